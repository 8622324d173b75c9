"""``python -m bot``: Socket Mode when SLACK_APP_TOKEN is set, else an HTTP server on PORT.

The HTTP server is aiohttp's production server (the one Bolt's async adapter is built for), not
Bolt's development server: ``POST /slack/events`` for commands, events and interactivity, and
``GET /health`` for load balancers and orchestrators. With BUDDY_WEBHOOK_TOKEN it also receives
Buddy's webhooks (``POST /buddy/webhooks/<token>``), and then runs beside Socket Mode too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.answers import Responder
from bot.buddy.client import BuddyClient
from bot.cli import configure_logging
from bot.config import ConfigError, Settings
from bot.log_redaction import secret_values
from bot.lookup import Lookup
from bot.slack.app import Services, build_app, slack_session
from bot.slack.subscription_service import SubscriptionService
from bot.slack.watch_publisher import build_watcher
from bot.store import Store

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700


def run(settings: Settings) -> int:
    configure_logging(settings.log_level, secrets=secret_values(settings))
    socket_mode = bool(settings.slack_app_token)
    settings.require_buddy_token()
    settings.require_slack(socket_mode)
    try:
        asyncio.run(_serve(settings, socket_mode))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def http_app(app: AsyncApp, *, slack_requests: bool = True) -> web.Application:
    web_app = web.Application(client_max_size=16 * 1024 * 1024)

    async def slack_events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, AttributeError, TypeError):
            # Bolt could not parse the body (not JSON, or JSON that is not an object): not from Slack.
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    # Socket Mode skips Slack's signature check, so its HTTP server (webhooks) must not take Slack requests.
    if slack_requests:
        web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/health", health)
    return web_app


async def _serve(settings: Settings, socket_mode: bool) -> None:
    store = Store(settings.state_db)
    async with BuddyClient(settings) as buddy, slack_session() as session:
        services = Services(settings=settings, responder=Responder(Lookup(buddy, settings), settings), store=store)
        app = build_app(services, socket_mode=socket_mode, session=session)
        await _check_slack_token(app)
        services.watcher = watcher = build_watcher(services, app.client)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        subscriptions = SubscriptionService(services, app.client, buddy)
        web_app = http_app(app, slack_requests=not socket_mode)
        subscriptions.add_routes(web_app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            if socket_mode:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                handler = AsyncSocketModeHandler(app, settings.slack_app_token)
                await handler.connect_async()
                log.info("connected to Slack in Socket Mode")
            if not socket_mode or settings.buddy_webhook_token:
                await web.TCPSite(runner, settings.bind_host, settings.port).start()
                log.info("listening on http://%s:%s", settings.bind_host, settings.port)
            subscriptions.start()
            watcher.start()  # resumes the watches stored before a restart
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
            await watcher.stop()
            await runner.cleanup()  # no more deliveries come in; those accepted are still announced
            await subscriptions.close()
            store.close()
            log.info("stopped")


async def _check_slack_token(app: AsyncApp) -> None:
    """Fail at start with one clear line rather than on the first request."""
    try:
        auth = await app.client.auth_test()
    except SlackApiError as exc:
        raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}): check the token in .env") from None
    except Exception as exc:
        raise ConfigError(f"cannot reach Slack at {app.client.base_url} ({type(exc).__name__})") from None
    log.info("signed in to Slack as %s in %s", auth.get("user"), auth.get("team"))
