"""Builds the Bolt app: one Slack Web API client with retry handlers, and every listener registered."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Responder
from bot.config import Settings
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What listeners need from the core, built once per process."""

    settings: Settings
    responder: Responder
    store: Store


def slack_base_url(settings: Settings) -> str:
    """SLACK_API_URL with or without the trailing slash; slack_sdk needs it."""
    base = settings.slack_api_url or "https://slack.com/api/"
    return base if base.endswith("/") else base + "/"


def build_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=slack_base_url(settings),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(services: Services, *, socket_mode: bool = False) -> AsyncApp:
    from bot.slack.listeners import register_listeners

    settings = services.settings
    app = AsyncApp(
        client=build_client(settings),
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
