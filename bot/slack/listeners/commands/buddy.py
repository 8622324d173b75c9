"""``/buddy <link or ids>``: acknowledged at once, answered in the channel after the lookup."""

from __future__ import annotations

import logging

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import USAGE, Plan, Request
from bot.render.notice import render_help, render_notice
from bot.slack.app import Services
from bot.slack.delivery import deliver, slack_error

log = logging.getLogger(__name__)

SUBCOMMANDS = {"subscribe", "unsubscribe", "subscriptions"}


class BuddyCommand:
    def __init__(self, services: Services) -> None:
        self.services = services

    def _plan(self, command: dict) -> Plan:
        request = Request(text=command.get("text", ""), whole_argument=True,
                          channel=command.get("channel_id"), user=command.get("user_id"),
                          is_direct=str(command.get("channel_id", "")).startswith("D"))
        return self.services.responder.plan(request)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        """Answers from what is known without Buddy: help, usage errors and refusals are ephemeral."""
        text = command.get("text", "").strip()
        word = text.split(maxsplit=1)[0].lower() if text else ""
        if word in {"", "help"}:
            await ack(**render_help())
            return
        if word in SUBCOMMANDS:
            await ack(**render_notice("Channel subscriptions are not available in this version of the bot yet."))
            return
        plan = self._plan(command)
        if plan.refusal:
            await ack(**render_notice(plan.refusal))
        elif not plan.refs:
            await ack(**render_notice(f"I found no Buddy run in “{text[:200]}”. {USAGE}"))
        else:
            count = len(plan.refs)
            await ack(text=f":mag: Looking up {count} Buddy run{'s' if count > 1 else ''}…")

    async def answer(self, command: dict, client: AsyncWebClient, respond: AsyncRespond) -> None:
        text = command.get("text", "").strip()
        if not text or text.split(maxsplit=1)[0].lower() in SUBCOMMANDS | {"help"}:
            return
        plan = self._plan(command)
        if plan.refusal or not plan.refs:
            return
        user = command.get("user_id")
        for ref in plan.refs:
            answer = await self.services.responder.answer(ref, requested_by=user)
            if answer.failed:
                await respond(response_type="ephemeral", **answer.message)
                continue
            try:
                await deliver(client, answer, channel=command["channel_id"], response_url=command.get("response_url"), user=user)
            except SlackApiError as exc:
                log.warning("could not deliver the answer to %s: %s", user, slack_error(exc))
                await respond(**render_notice(f"I could not post the answer here ({slack_error(exc)}). Invite me with `/invite @buddy` and try again."))
        if note := self.services.responder.skipped_note(plan):
            await respond(response_type="ephemeral", **render_notice(note))
