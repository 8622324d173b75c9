"""``python -m bot``: Socket Mode when SLACK_APP_TOKEN is set, else an HTTP server on PORT.

The HTTP server is aiohttp's production server (the one Bolt's async adapter is built for), not
Bolt's development server: ``POST /slack/events`` for commands, events and interactivity, and
``GET /health`` for load balancers and orchestrators.
"""

from __future__ import annotations

import asyncio
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
from bot.lookup import Lookup
from bot.slack.app import Services, build_app
from bot.store import Store

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def run(settings: Settings) -> int:
    configure_logging(settings.log_level)
    socket_mode = bool(settings.slack_app_token)
    settings.require_buddy_token()
    settings.require_slack(socket_mode)
    try:
        asyncio.run(_serve(settings, socket_mode))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def http_app(app: AsyncApp) -> web.Application:
    web_app = web.Application(client_max_size=16 * 1024 * 1024)

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/health", health)
    return web_app


async def _serve(settings: Settings, socket_mode: bool) -> None:
    store = Store(settings.state_db)
    async with BuddyClient(settings) as buddy:
        services = Services(settings=settings, responder=Responder(Lookup(buddy, settings), settings), store=store)
        app = build_app(services, socket_mode=socket_mode)
        await _check_slack_token(app)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(http_app(app), access_log=None)
        await runner.setup()
        try:
            if socket_mode:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                handler = AsyncSocketModeHandler(app, settings.slack_app_token)
                await handler.connect_async()
                log.info("connected to Slack in Socket Mode")
            else:
                await web.TCPSite(runner, settings.bind_host, settings.port).start()
                log.info("listening on http://%s:%s%s", settings.bind_host, settings.port, EVENTS_PATH)
            await stop.wait()
            if socket_mode:
                await handler.close_async()
        finally:
            await runner.cleanup()
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
