"""``/buddy settings``: the workspace's Buddy settings modal, for its admins and owners (the Home
tab's Settings button opens the same). Opened over the acknowledgement, within the command's 3 s."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.workspace_settings import SettingsOpener


class SettingsCommands:
    words = frozenset({"settings"})

    def __init__(self, services: Services) -> None:
        self.services = services
        self.opener = SettingsOpener(services)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        await ack()
        client = await self.services.clients.for_body(command)
        told = await self.opener.open(command, client, str(command.get("trigger_id") or ""))
        if told is not None:
            await AsyncRespond(response_url=command.get("response_url"))(response_type="ephemeral", **told)

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        """Nothing is left to do after the acknowledgement."""
