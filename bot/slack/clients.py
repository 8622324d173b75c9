"""The Slack Web API client for each workspace the bot serves: one place that says which bot token
answers a unit of work.

With ``SLACK_BOT_TOKEN`` (one workspace) every unit posts with the app's own client, as before. Installed
through Slack's OAuth (``SLACK_CLIENT_ID`` / ``SLACK_CLIENT_SECRET``), each workspace, or each Enterprise
Grid org installed org-wide, has its own bot token in the installation store (``bot.slack.install``). A
unit's workspace is read from its payload, the request body, the way Bolt's authorization reads it; a
background job's from the row that started it (``team`` on watches and subscriptions, a ``Workspace.key``).
Its client shares the app client's aiohttp session and retry handlers, and is kept a minute per
workspace, so that a token rotated or revoked elsewhere (another replica, a reinstall) is read again soon.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.internals import extract_enterprise_id, extract_is_enterprise_install, extract_team_id
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.state.store import StateUnavailable
from bot.work.queue import Unit

log = logging.getLogger(__name__)

CLIENT_KEPT_S = 60.0
# With one SLACK_BOT_TOKEN: the key the one workspace's rows are kept under (its settings, its Home tabs).
SOLE_WORKSPACE = ""
ROTATE_BEFORE_MINUTES = 120  # Bolt's default: a rotating token is refreshed two hours before it expires


@dataclass(frozen=True)
class Workspace:
    """A Slack installation: a workspace (``team_id``), or an Enterprise Grid org installed org-wide
    (``team_id`` None), as slack_sdk's installation store keys it."""

    enterprise_id: str | None
    team_id: str | None

    @property
    def org_wide(self) -> bool:
        return self.team_id is None

    @property
    def key(self) -> str:
        """How rows in the state store name it: ``<enterprise id>/<team id>``, either part empty."""
        return f"{self.enterprise_id or ''}/{self.team_id or ''}"

    @property
    def person_team(self) -> str:
        """What ``SlackPerson.team`` (and ``linked_accounts.team``) holds for its people."""
        return self.enterprise_id or self.team_id or ""

    @classmethod
    def of(cls, body: dict[str, Any]) -> Workspace | None:
        """The installation a request (a command, an interaction, an event) came through; None when
        the body names none."""
        enterprise = extract_enterprise_id(body) or None
        if extract_is_enterprise_install(body) and enterprise:
            return cls(enterprise, None)
        team = extract_team_id(body)
        return cls(enterprise, team) if team else None

    @classmethod
    def from_key(cls, key: str | None) -> Workspace | None:
        enterprise, sep, team = (key or "").partition("/")
        if not sep or not (enterprise or team):
            return None
        return cls(enterprise or None, team or None)

    def __str__(self) -> str:
        if self.org_wide:
            return f"the Enterprise Grid org {self.enterprise_id}"
        return f"the workspace {self.team_id}" + (f" (org {self.enterprise_id})" if self.enterprise_id else "")


class NotInstalled(Exception):
    """No bot token for this workspace: it never installed the app, uninstalled it, or its token was
    revoked (or the request named no workspace at all). The message is for the log."""


class WorkspaceClient(AsyncWebClient):
    """The client of one installation, with its bot token; ``workspace`` says which."""

    workspace: Workspace


def installation_key(client: AsyncWebClient) -> str | None:
    """The ``Workspace.key`` a client posts for, recorded with what it starts (a watch); None for the
    app's own client (one SLACK_BOT_TOKEN)."""
    return client.workspace.key if isinstance(client, WorkspaceClient) else None


class SlackClients:
    """``for_body`` / ``for_key``: the client to answer with. Without an installation store (one
    SLACK_BOT_TOKEN) that is always ``app_client``."""

    def __init__(
        self,
        app_client: AsyncWebClient,
        installations: AsyncInstallationStore | None = None,
        *,
        rotator: AsyncTokenRotator | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_client = app_client
        self.installations = installations
        self.rotator = rotator
        self.clock = clock
        self._kept: dict[str, tuple[float, WorkspaceClient]] = {}

    @property
    def per_workspace(self) -> bool:
        return self.installations is not None

    def settings_key(self, body: dict[str, Any]) -> str | None:
        """Whose settings (bot.tenancy) serve a request: its installation's; with one SLACK_BOT_TOKEN,
        the one workspace's (``SOLE_WORKSPACE``)."""
        if self.installations is None:
            return SOLE_WORKSPACE
        workspace = Workspace.of(body)
        return workspace.key if workspace is not None else None

    def settings_key_of(self, team: str | None) -> str | None:
        """The same for a row recorded with an installation's key (None: made before OAuth, the defaults)."""
        return SOLE_WORKSPACE if self.installations is None else team

    async def for_body(self, body: dict[str, Any]) -> AsyncWebClient:
        """The client for the workspace a request (or a unit's payload, which is its body) came from."""
        if self.installations is None:
            return self.app_client
        workspace = Workspace.of(body)
        if workspace is None:
            raise NotInstalled("the request names no Slack workspace")
        return await self.for_workspace(workspace)

    async def for_key(self, key: str | None) -> AsyncWebClient:
        """The client for a row's ``team`` (a ``Workspace.key``)."""
        if self.installations is None:
            return self.app_client
        workspace = Workspace.from_key(key)
        if workspace is None:
            raise NotInstalled("no Slack workspace was recorded for it (made before the bot was installed through OAuth)")
        return await self.for_workspace(workspace)

    async def for_workspace(self, workspace: Workspace) -> WorkspaceClient:
        assert self.installations is not None
        kept = self._kept.get(workspace.key)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        try:
            bot = await self.installations.async_find_bot(
                enterprise_id=workspace.enterprise_id, team_id=workspace.team_id, is_enterprise_install=workspace.org_wide
            )
            if bot is not None and bot.bot_refresh_token and self.rotator is not None:
                refreshed = await self.rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=ROTATE_BEFORE_MINUTES
                )
                if refreshed is not None:
                    await self.installations.async_save_bot(refreshed)
                    bot = refreshed
        except SQLAlchemyError as exc:
            if kept is not None:  # the store is down: the token it last gave is the best there is
                return kept[1]
            raise StateUnavailable(f"cannot read the installation of {workspace} ({type(exc).__name__})") from None
        except (SlackTokenRotationError, SlackApiError) as exc:
            raise NotInstalled(f"Slack refused to refresh the bot token of {workspace} ({exc})") from None
        if bot is None or not bot.bot_token:
            self._kept.pop(workspace.key, None)
            raise NotInstalled(f"the app is not installed in {workspace} (never installed, uninstalled, or its token revoked)")
        client = kept[1] if kept is not None and kept[1].token == bot.bot_token else self._client(workspace, bot.bot_token)
        self._kept[workspace.key] = (self.clock() + CLIENT_KEPT_S, client)
        return client

    def forget(self, workspace: Workspace) -> None:
        """Its token is gone (uninstalled, revoked): not used again by this process."""
        self._kept.pop(workspace.key, None)

    def unit_handler(self, handler: Callable[[Unit, AsyncWebClient], Awaitable[None]]) -> Callable[[Unit], Awaitable[None]]:
        """``handler(unit, client)`` as the work queue's ``handler(unit)``, with the client for the
        unit's workspace; a workspace without the app is one log line, and the unit is done."""

        async def run(unit: Unit) -> None:
            try:
                client = await self.for_body(unit.payload)
            except NotInstalled as exc:
                log.warning("unit %s (%s) not answered: %s", unit.id, unit.kind, exc)
                return
            await handler(unit, client)

        return run

    def _client(self, workspace: Workspace, token: str) -> WorkspaceClient:
        app = self.app_client
        client = WorkspaceClient(
            token=token,
            base_url=app.base_url,
            timeout=app.timeout,
            session=app.session,
            headers=app.headers,
            team_id=workspace.team_id,
            logger=app.logger,
            retry_handlers=list(app.retry_handlers),
        )
        client.workspace = workspace
        return client
