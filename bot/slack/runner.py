"""``python -m bot``: Socket Mode when SLACK_APP_TOKEN is set, else an HTTP server on PORT.

The HTTP server is aiohttp's production server (the one Bolt's async adapter is built for), not
Bolt's development server: ``POST /slack/events`` for commands, events and interactivity, and
``GET /health`` for load balancers and orchestrators. With BUDDY_WEBHOOK_TOKEN it also receives
Buddy's webhooks (``POST /buddy/webhooks/<token>``), and then runs beside Socket Mode too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.answers import Responder
from bot.buddy.client import BuddyClient
from bot.cli import configure_logging
from bot.config import ConfigError, Settings
from bot.log_redaction import secret_values
from bot.lookup import Lookup
from bot.ops.metrics import Metrics, process_metrics
from bot.ops.routes import ReadyCheck, add_ops_routes
from bot.slack.app import Services, build_app, build_client, slack_session
from bot.slack.clients import SOLE_WORKSPACE
from bot.slack.http_limits import MAX_JSON_DEPTH, body_deadline, server_options, slack_body_nests_too_deep
from bot.slack.install import INSTALL_PATH, add_install_routes
from bot.slack.metrics_middleware import register as measure_requests
from bot.slack.oauth_callback import add_oauth_routes
from bot.slack.preflight import open_socket_mode, sign_in
from bot.slack.quick_ack import QuickAcks
from bot.slack.subscription_service import SubscriptionService
from bot.slack.watch_publisher import build_watcher
from bot.state.execution_ids import ExecutionIds
from bot.state.store import StateStore, StateUnavailable
from bot.work.queue import WorkQueue

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700
LISTEN_BACKLOG = 1024


def run(settings: Settings) -> int:
    configure_logging(settings.log_level, secrets=secret_values(settings), log_format=settings.log_format)
    socket_mode = bool(settings.slack_app_token)
    settings.require_buddy_token()
    settings.require_slack(socket_mode)
    try:
        # Before anything is built or logged, so that a wrong state store or Slack set-up ends in its one line.
        asyncio.run(StateStore.preflight(settings))
        asyncio.run(_check_slack_token(settings, socket_mode))
        asyncio.run(_serve(settings, socket_mode))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def http_app(
    app: AsyncApp,
    settings: Settings,
    *,
    slack_requests: bool = True,
    metrics: Metrics | None = None,
    ready_check: ReadyCheck | None = None,
    quick_acks: QuickAcks | None = None,
) -> web.Application:
    """The bot's HTTP server: Slack's requests (not in Socket Mode), /health, /ready and /metrics."""
    web_app = web.Application(
        client_max_size=16 * 1024 * 1024,
        middlewares=[body_deadline(settings.http_body_timeout_s)],
        handler_args=server_options(header_timeout_s=settings.http_header_timeout_s, body_timeout_s=settings.http_body_timeout_s),
    )

    async def slack_events(request: web.Request) -> web.Response:
        try:
            body = await request.read()  # a body too slow to arrive raises 408 here (body_deadline)
        except (ConnectionResetError, web.RequestPayloadError):
            # The sender hung up midway, or the body's own encoding (chunks, gzip) is broken.
            log.debug("a request to %s broke off before its body ended", EVENTS_PATH)
            return web.Response(status=400, text="malformed request: the body broke off")
        # Checked before Bolt parses it: its JSON parser recurses, and a deep enough body exhausts the stack.
        if slack_body_nests_too_deep(body):
            return web.Response(status=400, text=f"malformed request: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if quick_acks is not None and (quick := await quick_acks.respond(body, request.headers)) is not None:
            return await to_aiohttp_response(quick)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, AttributeError, TypeError):
            # Bolt could not parse the body (not JSON, or JSON that is not an object): not from Slack.
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    # Socket Mode skips Slack's signature check, so its HTTP server (webhooks) must not take Slack requests.
    if slack_requests:
        web_app.router.add_post(EVENTS_PATH, slack_events)
    if app.oauth_flow is not None:  # installing through Slack's OAuth: in the installer's browser, either mode
        add_install_routes(web_app, app.oauth_flow)
    add_ops_routes(
        web_app,
        metrics=metrics or process_metrics(),
        ready_check=ready_check or _always_ready,
        metrics_token=settings.metrics_token,
    )
    return web_app


async def _always_ready() -> tuple[bool, str]:
    return True, ""


def readiness(state: StateStore, work: WorkQueue, stopping: asyncio.Event) -> ReadyCheck:
    """Ready while not shutting down and the state store takes writes (Slack's auth.test passed at
    start, or the bot would not be running; installed through OAuth, there is no one token, and each
    installation's passed when it was saved). A store coming back is not ready until what was
    answered while it was down is written down (``WorkQueue.recover``)."""

    async def check() -> tuple[bool, str]:
        if stopping.is_set():
            return False, "shutting down"
        if work.health.degraded:
            return False, f"state store unavailable: {work.health.reason} (degraded: replies are not durable)"
        try:
            await state.check(work.owner)
        except StateUnavailable as exc:
            work.health.failed(str(exc))
            return False, f"state store unavailable: {exc}"
        return True, ""

    return check


async def _serve(settings: Settings, socket_mode: bool) -> None:
    state = await StateStore.open(settings)
    metrics = process_metrics()
    work = WorkQueue(state, lease_s=settings.work_lease_s, metrics=metrics)
    log.info("state: %s; this replica is %s (work leases of %g s)", state.where, work.owner, settings.work_lease_s)
    if settings.slack_oauth and not settings.read_as_asker:
        log.warning(
            "installed through Slack's OAuth with READ_AS_ASKER=false: every workspace that installs the app reads "
            "Buddy with BUDDY_TOKEN; set READ_AS_ASKER=true unless all of them may see what that token sees"
        )
    async with BuddyClient(settings) as buddy, slack_session() as session:
        responder = Responder(Lookup(buddy, settings, shared_ids=ExecutionIds(state)), settings)
        services = Services(settings=settings, responder=responder, state=state, work=work)
        with contextlib.suppress(StateUnavailable):
            # Each workspace's own settings, before any request (with one token: the one workspace's).
            await services.tenants.warm(() if settings.slack_oauth else (SOLE_WORKSPACE,))
        app = build_app(services, socket_mode=socket_mode, session=session)
        measure_requests(app, metrics)
        services.quick_acks.metrics = metrics
        services.watcher = watcher = build_watcher(services, services.clients)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        subscriptions = SubscriptionService(services, services.clients, buddy)
        web_app = http_app(
            app,
            settings,
            slack_requests=not socket_mode,
            metrics=metrics,
            ready_check=readiness(state, work, stop),
            quick_acks=services.quick_acks,
        )
        subscriptions.add_routes(web_app)
        add_oauth_routes(web_app, services)  # Buddy's sign-in, in the person's browser
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        upkeep: asyncio.Task | None = None
        try:
            if socket_mode:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                handler = AsyncSocketModeHandler(app, settings.slack_app_token)
                await handler.connect_async()
                log.info("connected to Slack in Socket Mode")
            # Socket Mode too: /health, /ready, /metrics and the webhooks (everything but /slack/events).
            # A burst of Slack requests connects at once: beyond the default backlog (128) the kernel
            # drops connection attempts, and each comes back only after a one-second retransmit.
            await web.TCPSite(runner, settings.bind_host, settings.port, backlog=LISTEN_BACKLOG).start()
            log.info("listening on http://%s:%s", settings.bind_host, settings.port)
            subscriptions.start()
            watcher.start()  # resumes the watches stored before a restart
            # Work left unfinished by a crash: a lone SQLite process takes all of it back at once (it
            # was its own); replicas take what another left once its lease runs out.
            await work.take_over(everything=state.is_sqlite)
            upkeep = asyncio.create_task(work.maintain(), name="work-upkeep")
            # What start-up built lives as long as the process: the garbage collector's full passes,
            # which would otherwise walk it all again in the middle of a burst, leave it be. And it
            # looks at new objects less often: a burst of lookups creates many and frees them by
            # reference counting (its passes took about a tenth of a burst's CPU; see bench/).
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            await stop.wait()
            if socket_mode:
                await handler.close_async()
        finally:
            await runner.cleanup()  # no more requests come in; those accepted are still answered
            await work.drain(settings.shutdown_grace_s)
            if upkeep is not None:
                upkeep.cancel()
            await watcher.stop()
            await subscriptions.close()
            with contextlib.suppress(StateUnavailable):
                await watcher.release()  # another replica polls them at once
            await state.close()
            log.info("stopped")


async def _check_slack_token(settings: Settings, socket_mode: bool) -> None:
    """Fail at start with one clear line rather than on the first request."""
    async with slack_session() as session:
        client = build_client(settings, session)
        auth = None if settings.slack_oauth else await sign_in(client, settings)  # OAuth: a token per installation
        if socket_mode:
            await open_socket_mode(client, settings)
    if auth is None:
        log.info("installing into Slack workspaces through OAuth: %s%s", settings.public_url, INSTALL_PATH)
    else:
        log.info("signed in to Slack as %s in %s", auth.get("user"), auth.get("team"))
