"""Builds the Bolt app: one Slack Web API client with retry handlers, and every listener registered."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Responder
from bot.config import Settings
from bot.home.records import RecentRuns
from bot.identity.accounts import LinkedAccounts
from bot.identity.credentials import Identity
from bot.identity.oauth import BuddyOAuth
from bot.identity.vault import Vault
from bot.slack.clients import SlackClients
from bot.slack.install import Installer
from bot.slack.intake import Intake
from bot.slack.intake import register as register_intake
from bot.slack.quick_ack import QuickAcks
from bot.slack.unhandled import answer_unhandled
from bot.state.claims import Claims
from bot.state.store import StateStore
from bot.tenancy.store import WorkspaceSettingsStore
from bot.tenancy.tenants import Tenants
from bot.watch import Watcher
from bot.work.queue import WorkQueue

log = logging.getLogger(__name__)

SLACK_TIMEOUT_S = 30  # slack_sdk's own default per call


@dataclass
class Services:
    """What listeners need from the core, built once per process."""

    settings: Settings
    responder: Responder
    state: StateStore
    work: WorkQueue
    watcher: Watcher | None = None  # set by the runner once the Slack client exists
    claims: Claims = field(init=False)
    accounts: LinkedAccounts = field(init=False)
    identity: Identity = field(init=False)
    clients: SlackClients = field(init=False)  # set by build_app: the Slack client for each unit's workspace
    installer: Installer | None = field(init=False)  # set by build_app: installing through Slack's OAuth
    tenants: Tenants = field(init=False)  # each installation's own Buddy settings over the environment's
    recent: RecentRuns = field(init=False)  # the runs each person asked about (their Home tab)
    intake: Intake = field(init=False)  # set by build_app: a request into its unit of work
    quick_acks: QuickAcks = field(init=False)  # set by build_app: commands acknowledged ahead of Bolt

    def __post_init__(self) -> None:
        self.claims = Claims(self.state)
        if self.responder.identity is None:
            accounts = LinkedAccounts(self.state, Vault(self.settings.token_encryption_key))
            oauth = BuddyOAuth(self.settings, self.responder.lookup.client, accounts)
            self.responder.identity = Identity(accounts, oauth)
        self.identity = self.responder.identity  # the one the responder reads as the asker with
        self.accounts = self.identity.accounts
        store = WorkspaceSettingsStore(self.state, self.accounts.vault)
        # With one SLACK_BOT_TOKEN there is one workspace: no other's settings to mistake for its own.
        self.tenants = Tenants(self.responder, store, defaults_when_unread=not self.settings.slack_oauth)
        self.recent = RecentRuns(self.state)

    async def responder_for(self, body: dict) -> Responder:
        """The responder with the settings of the Slack installation a request (or a unit's payload) came from."""
        return await self.tenants.responder(self.clients.settings_key(body))

    async def responder_of(self, team: str | None) -> Responder:
        """The responder for background work recorded with an installation's key (a watch's ``team``)."""
        return await self.tenants.responder(self.clients.settings_key_of(team))


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
        token=settings.slack_bot_token or None,  # none installed through OAuth: each workspace has its own
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
    client = build_client(settings, session)
    installer = Installer(settings, services.state, client) if settings.slack_oauth else None
    with _token_variable_hidden():
        app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret,
            # Socket Mode has no HTTP requests to sign; Bolt skips verification there by itself.
            request_verification_enabled=not socket_mode,
            process_before_response=False,
            # A request no listener takes comes to on_error, which answers 200 (see bot/slack/unhandled.py).
            raise_error_for_unhandled_request=True,
            **(installer.app_options() if installer else {}),
        )
    services.clients = installer.clients(app.client) if installer else SlackClients(app.client)
    services.installer = installer
    # Before any listener runs or any acknowledgement leaves.
    services.intake = Intake(services.work, services.accounts.vault, reply_to_links=settings.reply_to_links)
    register_intake(app, services.intake)
    services.quick_acks = QuickAcks(settings.slack_signing_secret, services.intake, services.clients)
    register_listeners(app, services)

    @app.error
    async def on_error(error: Exception, body: dict) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            return answer_unhandled(body)
        # Listener code answers people itself; anything reaching here is a bug worth a log line,
        # never a traceback in Slack (Bolt answers the request with its own status).
        log.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)
        return None

    return app


@contextlib.contextmanager
def _token_variable_hidden() -> Iterator[None]:
    """Bolt falls back to SLACK_BOT_TOKEN from the environment when not given ``token``, then warns on
    every start that it ignores it for ``client``. The client, built from the settings, is the token."""
    saved = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["SLACK_BOT_TOKEN"] = saved
