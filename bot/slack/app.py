"""Builds the Bolt app: one Slack Web API client with retry handlers, and every listener registered."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Responder
from bot.config import Settings
from bot.store import Store
from bot.watch import Watcher

log = logging.getLogger(__name__)

SLACK_TIMEOUT_S = 30  # slack_sdk's own default per call


@dataclass
class Services:
    """What listeners need from the core, built once per process."""

    settings: Settings
    responder: Responder
    store: Store
    watcher: Watcher | None = None  # set by the runner once the Slack client exists


def slack_base_url(settings: Settings) -> str:
    """SLACK_API_URL with or without the trailing slash; slack_sdk needs it."""
    base = settings.slack_api_url or "https://slack.com/api/"
    return base if base.endswith("/") else base + "/"


def slack_session() -> aiohttp.ClientSession:
    """One connection pool for every Web API call: without it slack_sdk opens a session, and a
    connection, per call. Create it inside the running event loop; close it at shutdown."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT_S))


def build_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    # 5xx and broken connections: exponential backoff with jitter; 429: Slack's own Retry-After.
    backoff = BackoffRetryIntervalCalculator(backoff_factor=settings.slack_retry_backoff_s)
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=slack_base_url(settings),
        session=session,
        timeout=SLACK_TIMEOUT_S,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
        ],
    )


def build_app(services: Services, *, socket_mode: bool = False, session: aiohttp.ClientSession | None = None) -> AsyncApp:
    from bot.slack.listeners import register_listeners

    settings = services.settings
    app = AsyncApp(
        client=build_client(settings, session),
        signing_secret=settings.slack_signing_secret,
        # Socket Mode has no HTTP requests to sign; Bolt skips verification there by itself.
        request_verification_enabled=not socket_mode,
        process_before_response=False,
    )
    register_listeners(app, services)

    @app.error
    async def on_error(error: Exception, body: dict) -> None:
        # Listener code answers people itself; anything reaching here is a bug worth a log line,
        # never a traceback in Slack (Bolt answers the request with its own status).
        log.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)

    return app
