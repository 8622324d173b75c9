"""Opening the Settings modal: the Home tab's Settings button, and ``/buddy settings``. Only a
workspace admin or owner gets the form; anyone else is told who can. Opened in the acknowledgement's
path: the modal needs the click's (or the command's) ``trigger_id``, valid 3 s."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.home import WORKSPACE_SETTINGS_ACTION
from bot.render.notice import render_notice
from bot.render.workspace_settings import settings_notice_view, settings_view
from bot.slack.admins import is_admin
from bot.slack.app import Services
from bot.slack.delivery import slack_error
from bot.state.store import StateUnavailable
from bot.tenancy.settings import selectable_hosts

log = logging.getLogger(__name__)

ADMINS_ONLY = "Only a workspace admin or owner can change the bot's Buddy settings for this workspace. Ask one of them."
NO_KEY = (
    "These settings are kept encrypted, and the bot's operator has not set TOKEN_ENCRYPTION_KEY: "
    "ask them to set it, then open Settings again."
)
STORE_DOWN = "I can't read the settings right now: my state store is unavailable. Try again in a minute."
NO_WORKSPACE = "I can't tell which Slack workspace this came from, so there are no settings to show."


def register(app: AsyncApp, services: Services) -> None:
    opener = SettingsOpener(services)

    async def clicked(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await ack()
        await opener.open(body, client, str(body.get("trigger_id") or ""))

    app.action(WORKSPACE_SETTINGS_ACTION)(clicked)


class SettingsOpener:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def open(self, body: dict, client: AsyncWebClient, trigger_id: str) -> dict | None:
        """Opens the form (or the modal saying why not); returns what to tell the person instead
        when no modal could open at all."""
        view = await self._view(body, client)
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.info("the settings modal did not open: %s", slack_error(exc))
            return render_notice(f"I could not open the settings ({slack_error(exc)}). Try again.")
        return None

    async def _view(self, body: dict, client: AsyncWebClient) -> dict:
        user = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
        key = self.services.clients.settings_key(body)
        if key is None:
            return settings_notice_view(NO_WORKSPACE)
        if not await is_admin(client, user):
            return settings_notice_view(ADMINS_ONLY)
        if self.services.accounts.vault.locked:
            return settings_notice_view(NO_KEY)
        try:
            current = await self.services.tenants.settings_of(key)
        except StateUnavailable as exc:
            log.warning("the settings of %s could not be read: %s", key, exc)
            return settings_notice_view(STORE_DOWN)
        return settings_view(current, hosts=selectable_hosts(self.services.settings))
