"""Installing into many Slack workspaces through Slack's OAuth, with Bolt's async OAuth flow.

``GET /slack/install`` shows an "Add to Slack" page whose link goes to Slack's authorize page
(``SLACK_OAUTH_AUTHORIZE_URL``) with a state kept in the state store and a cookie; Slack sends the
browser back to ``GET /slack/oauth_redirect`` (``<PUBLIC_URL>/slack/oauth_redirect``), where the code is
exchanged for the workspace's bot token (``oauth.v2.access`` at SLACK_API_URL), the token is checked
with ``auth.test``, and the installation is saved; the page then says it was installed, or what went
wrong and what to do.

Installations and OAuth states live in the state store through slack_sdk's own SQLAlchemy stores, on
the StateStore's async engine (aiosqlite or asyncpg); migration 0005 creates their tables. Every token
column is sealed with TOKEN_ENCRYPTION_KEY on the way in and opened on the way out (``SealedToken``), so
no token is at rest in the clear, whichever store method writes it (a save, a token rotation).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Text, and_, delete, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from bot.config import Settings
from bot.identity.vault import Unreadable, Vault
from bot.slack.clients import SlackClients, Workspace
from bot.slack.manifest import bot_scopes
from bot.state.store import StateStore
from bot.state.tables import linked_accounts, subscriptions, watches, workspace_settings

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_EXPIRES_S = 600  # slack_sdk's default: an install started more than 10 minutes ago starts again
TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
NOT_INSTALLED = (
    "The Buddy bot is not installed in this workspace any more (or its installation could not be read). "
    "Ask a workspace admin to install it again: {install_url}"
)


class SealedToken(TypeDecorator):
    """A token column: Fernet-sealed when written, opened when read. A token sealed with another
    TOKEN_ENCRYPTION_KEY reads as None, so that workspace is asked to install the app again."""

    impl = Text
    cache_ok = True

    def __init__(self, vault: Vault) -> None:
        super().__init__()
        self.vault = vault

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.vault.seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return self.vault.open(value)
        except Unreadable:
            log.warning(
                "a stored Slack token was encrypted with another TOKEN_ENCRYPTION_KEY: its workspace must install the app again"
            )
            return None


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's store, its token columns sealed; a save the database refuses is Bolt's storage error
    (the install's page says so), and each saved installation is logged."""

    def __init__(self, client_id: str, engine: AsyncEngine, vault: Vault) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=log)
        for table in (self.installations, self.bots):
            for name in TOKEN_COLUMNS:
                if name in table.c:
                    table.c[name].type = SealedToken(vault)

    async def async_save(self, installation: Installation) -> None:
        try:
            await super().async_save(installation)
        except SQLAlchemyError as exc:
            raise BoltError(f"the installation could not be saved ({type(exc).__name__})") from exc
        log.info(
            "installed in %s (%s), bot user %s",
            Workspace(installation.enterprise_id, None if installation.is_enterprise_install else installation.team_id),
            installation.enterprise_name if installation.is_enterprise_install else installation.team_name,
            installation.bot_user_id,
        )

    async def async_save_bot(self, bot: Bot) -> None:
        try:
            await super().async_save_bot(bot)
        except SQLAlchemyError as exc:
            raise BoltError(f"the bot token could not be saved ({type(exc).__name__})") from exc

    async def installed_in_org(self, enterprise_id: str) -> bool:
        """Whether any installation of this Enterprise Grid org is left (org-wide, or a workspace's)."""
        c = self.bots.c
        query = select(func.count()).where(and_(c.client_id == self.client_id, c.enterprise_id == enterprise_id))
        async with self.engine.connect() as db:
            return bool((await db.execute(query)).scalar())


class OAuthStates(AsyncSQLAlchemyOAuthStateStore):
    """slack_sdk's state store; issuing a state also deletes the expired ones, which slack_sdk keeps
    for ever when an install is abandoned."""

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        now = datetime.now(tz=timezone.utc).replace(tzinfo=None)  # slack_sdk's columns are naive UTC
        async with self.engine.begin() as db:
            await db.execute(delete(self.oauth_states).where(self.oauth_states.c.expire_at < now))
        return await super().async_issue(*args, **kwargs)


class InstallFlow(AsyncOAuthFlow):
    """Bolt's flow with the bot's own pages (no image from Slack's CDN, every failure explained)."""

    async def build_authorize_url(self, state: str, request: AsyncBoltRequest) -> str:
        teams = request.query.get("team") or []  # /slack/install?team=T… picks the workspace
        return self.settings.authorize_url_generator.generate(state=state, team=quote(teams[0], safe="") if teams else None)

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return page(
            "Add Buddy to Slack",
            "<p>Installs the Buddy.Works bot into a Slack workspace, or into an Enterprise Grid org.</p>"
            f'<p><a id="add-to-slack" class="button" href="{html.escape(url)}">Add to Slack</a></p>'
            "<p>Slack asks you to pick the workspace and allow the bot's permissions, then brings you back here.</p>",
        )


class Installer:
    """What OAuth mode adds to the Bolt app: the flow, the installation store, the authorization."""

    def __init__(self, settings: Settings, state: StateStore, client: AsyncWebClient) -> None:
        vault = Vault(settings.token_encryption_key)
        self.settings = settings
        self.store = InstallationStore(settings.slack_client_id, state.engine, vault)
        oauth = AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=sorted(bot_scopes()),
            user_scopes=[],
            redirect_uri=f"{settings.public_url}{REDIRECT_PATH}",
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=settings.slack_oauth_authorize_url,
            installation_store=self.store,
            installation_store_bot_only=True,
            state_store=OAuthStates(expiration_seconds=STATE_EXPIRES_S, engine=state.engine, logger=log),
            state_expiration_seconds=STATE_EXPIRES_S,
            callback_options=AsyncCallbackOptions(success=_installed, failure=_not_installed),
            logger=log,
        )
        self.flow = InstallFlow(client=client, logger=log, settings=oauth)
        # Bolt's own authorization, with the token exchange and rotation at SLACK_API_URL, and auth.test
        # once per token rather than on every request.
        self.rotator = AsyncTokenRotator(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, client=client
        )
        self.authorize = AsyncInstallationStoreAuthorize(
            logger=log,
            installation_store=self.store,
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            bot_only=True,
            cache_enabled=True,
            client=client,
        )

    def app_options(self) -> dict[str, Any]:
        """AsyncApp's keyword arguments for OAuth mode."""
        told = NOT_INSTALLED.format(install_url=f"{self.settings.public_url}{INSTALL_PATH}")
        return {"oauth_flow": self.flow, "authorize": self.authorize, "user_facing_authorize_error_message": told}

    def clients(self, app_client: AsyncWebClient) -> SlackClients:
        return SlackClients(app_client, self.store, rotator=self.rotator)


def add_install_routes(web_app: web.Application, flow: AsyncOAuthFlow) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` on the bot's HTTP server."""

    def route(handle: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                return await to_aiohttp_response(await handle(await to_bolt_request(request)))
            except Exception as exc:  # Slack unreachable, the state store down: said on the page, not a traceback
                log.warning("install step %s failed: %s", request.path, type(exc).__name__, exc_info=exc)
                return web.Response(status=503, text=failure_page(UNAVAILABLE), content_type="text/html")

        return serve

    web_app.router.add_get(flow.install_path, route(flow.handle_installation))
    web_app.router.add_get(flow.redirect_uri_path, route(flow.handle_callback))


async def forget_workspace(installer: Installer, clients: SlackClients, state: StateStore, workspace: Workspace) -> None:
    """Everything kept for a workspace the app left (uninstalled, or its bot token revoked): its
    installation and tokens, its subscriptions and watches, and its people's linked Buddy accounts.
    People of an Enterprise Grid org are linked once for the whole org (``SlackPerson.team``): their
    accounts go with the org's last installation."""
    await installer.store.async_delete_all(enterprise_id=workspace.enterprise_id, team_id=workspace.team_id)
    clients.forget(workspace)
    org_still_installed = workspace.enterprise_id is not None and await installer.store.installed_in_org(workspace.enterprise_id)
    async with state.begin() as db:
        removed_subscriptions = (await db.execute(delete(subscriptions).where(subscriptions.c.team == workspace.key))).rowcount
        removed_watches = (await db.execute(delete(watches).where(watches.c.team == workspace.key))).rowcount
        await db.execute(delete(workspace_settings).where(workspace_settings.c.team == workspace.key))
        removed_accounts = 0
        if not org_still_installed:
            removed = await db.execute(delete(linked_accounts).where(linked_accounts.c.team == workspace.person_team))
            removed_accounts = removed.rowcount
    log.info(
        "forgot %s: its installation, %d subscription(s), %d watch(es), %d linked account(s)",
        workspace,
        removed_subscriptions,
        removed_watches,
        removed_accounts,
    )


# -- pages -------------------------------------------------------------------------------------------

UNAVAILABLE = (
    "The bot could not finish this step: Slack did not answer it, or its state store is unavailable. "
    "Try again in a minute; if it keeps failing, the bot's operator will find the reason in its log."
)
FAILURES = {
    "access_denied": "The install was cancelled on Slack's page: nothing was installed.",
    "invalid_browser": (
        "This install was started in another browser, or the browser did not send back its cookie: start "
        "again from the Add to Slack page, in this browser, with cookies allowed for this site."
    ),
    "invalid_state": "This install link has expired (it lasts 10 minutes) or was used already: start again.",
    "missing_code": "Slack sent no authorization code back: start again.",
    "invalid_code": (
        "Slack did not accept this install: the code had expired or was used already, or Slack refused the "
        "app's credentials. Start again; if it keeps failing, the bot's operator should check "
        "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and the app's redirect URL."
    ),
    "storage_error": (
        "Slack accepted the install, but the bot could not save it (its state store is unavailable). Try again in a minute."
    ),
}


async def _installed(args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    if installation.is_enterprise_install:
        where = html.escape(installation.enterprise_name or installation.enterprise_id or "your Enterprise Grid org")
        next_step = (
            "An org admin now adds it to the workspaces that should have it (Slack's admin pages: Integrations → Installed apps)"
        )
    else:
        where = html.escape(installation.team_name or installation.team_id or "your workspace")
        next_step = "Invite it to a channel with <code>/invite @buddy</code>"
    body = (
        f'<p id="installed">Buddy is installed in <strong>{where}</strong>.</p>'
        f"<p>{next_step}, then type <code>/buddy help</code> there. You can close this page.</p>"
    )
    return _html(200, page("Buddy is installed", body), args.settings.state_utils.build_set_cookie_for_deletion())


async def _not_installed(args: AsyncFailureArgs) -> BoltResponse:
    reason = FAILURES.get(args.reason) or f"Slack stopped the install ({html.escape(args.reason)}): nothing was installed."
    log.info("an install did not complete: %s", args.reason)
    return _html(args.suggested_status_code, failure_page(reason), args.settings.state_utils.build_set_cookie_for_deletion())


def failure_page(reason: str) -> str:
    return page(
        "Buddy was not installed",
        f'<p id="not-installed">{reason}</p><p><a class="button" href="{INSTALL_PATH}">Start again</a></p>',
    )


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
        ".button{display:inline-block;padding:.6rem 1.2rem;border-radius:.4rem;background:#4a154b;color:#fff;"
        "text-decoration:none;font-weight:600}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _html(status: int, body: str, cookie: str) -> BoltResponse:
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8", "Set-Cookie": cookie})
