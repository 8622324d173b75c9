"""The Settings modal's submission. Slack signs it, so the user it names did submit it; whether they
may is asked of Slack again here (``users.info``), never taken from the form. A new token is checked
with Buddy first (CHECK_WITHIN_S of Slack's 3 s). What is wrong is answered in the form
(``response_action: errors``); once saved, the form says so. The submission is not a unit of work:
its payload (the token in it) is never written to the state store, only the settings, sealed."""

from __future__ import annotations

import logging
import time

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity.vault import VaultLocked
from bot.render.mrkdwn import esc
from bot.render.workspace_settings import (
    CHANNELS_BLOCK,
    CHANNELS_INPUT,
    DMS_BLOCK,
    DMS_INPUT,
    HOSTS_BLOCK,
    HOSTS_INPUT,
    READING_BLOCK,
    READING_INPUT,
    READINGS,
    SETTINGS_VIEW,
    TOKEN_BLOCK,
    TOKEN_INPUT,
    WORKSPACES_BLOCK,
    WORKSPACES_INPUT,
    settings_notice_view,
)
from bot.slack.admins import is_admin
from bot.slack.app import Services
from bot.slack.listeners.actions.workspace_settings import ADMINS_ONLY, NO_KEY, NO_WORKSPACE, STORE_DOWN
from bot.state.store import StateUnavailable
from bot.tenancy.check import check_token
from bot.tenancy.settings import Invalid, Reading, WorkspaceSettings, chosen

log = logging.getLogger(__name__)

CHECK_WITHIN_S = 2.0
BLOCKS = {
    "reading": READING_BLOCK,
    "token": TOKEN_BLOCK,
    "hosts": HOSTS_BLOCK,
    "workspaces": WORKSPACES_BLOCK,
    "channels": CHANNELS_BLOCK,
}


def register(app: AsyncApp, services: Services) -> None:
    app.view(SETTINGS_VIEW)(SaveSettings(services).submit)


class SaveSettings:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def submit(self, ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        key = self.services.clients.settings_key(body)
        if key is None:
            await ack(response_action="errors", errors={READING_BLOCK: NO_WORKSPACE})
            return
        if not await is_admin(client, user):
            log.warning("Slack user %s, not an admin, submitted the Buddy settings of %s; refused", user, key)
            await ack(response_action="errors", errors={READING_BLOCK: ADMINS_ONLY})
            return
        try:
            saved = await self._save(key, user, (body.get("view") or {}).get("state") or {})
        except Invalid as exc:
            await ack(response_action="errors", errors={BLOCKS.get(exc.field, READING_BLOCK): str(exc)[:300]})
            return
        except VaultLocked:
            await ack(response_action="errors", errors={READING_BLOCK: NO_KEY})
            return
        except StateUnavailable as exc:
            log.warning("the settings of %s could not be saved: %s", key, exc)
            await ack(response_action="errors", errors={READING_BLOCK: STORE_DOWN.replace("read", "save")})
            return
        log.info("the Buddy settings of %s were changed by %s (reading: %s)", key, user, saved.reading.value)
        await ack(response_action="update", view=settings_notice_view(_saved_text(saved)))

    async def _save(self, key: str, user: str, state: dict) -> WorkspaceSettings:
        values = state.get("values") or {}
        current = await self.services.tenants.settings_of(key)
        settings = self.services.settings
        new = chosen(
            reading=str(((_value(values, READING_BLOCK, READING_INPUT).get("selected_option")) or {}).get("value") or ""),
            token=str(_value(values, TOKEN_BLOCK, TOKEN_INPUT).get("value") or ""),
            hosts=[str(o.get("value")) for o in _value(values, HOSTS_BLOCK, HOSTS_INPUT).get("selected_options") or []],
            buddy_workspaces=str(_value(values, WORKSPACES_BLOCK, WORKSPACES_INPUT).get("value") or ""),
            slack_channels=[str(c) for c in _value(values, CHANNELS_BLOCK, CHANNELS_INPUT).get("selected_conversations") or []],
            direct_messages=bool(_value(values, DMS_BLOCK, DMS_INPUT).get("selected_options")),
            current=current,
            settings=settings,
            by=user,
            at=time.time(),
        )
        if new.reading is Reading.TOKEN and (current is None or new.token != current.token):
            hosts = new.hosts or (settings.buddy_default_host,)
            await check_token(self.services.responder.lookup.client, hosts, new.token, within_s=CHECK_WITHIN_S)
        await self.services.tenants.save(key, new)
        return new


def _value(values: dict, block: str, action: str) -> dict:
    found = (values.get(block) or {}).get(action)
    return found if isinstance(found, dict) else {}


def _saved_text(saved: WorkspaceSettings) -> str:
    lines = [f":white_check_mark: Saved. Buddy is read *{READINGS[saved.reading].lower()}*."]
    if saved.hosts:
        lines.append("Hosts: " + ", ".join(f"`{esc(h, 100)}`" for h in saved.hosts))
    if saved.buddy_workspaces:
        lines.append("Buddy workspaces: " + ", ".join(f"`{esc(w, 100)}`" for w in saved.buddy_workspaces))
    channels = [c for c in saved.slack_channels if c != "dm"]
    if channels:
        lines.append(
            "Channels: "
            + ", ".join(f"<#{c}>" for c in channels)
            + (" and direct messages" if "dm" in saved.slack_channels else "")
        )
    lines.append("Every replica uses them within a few seconds.")
    return "\n".join(lines)
