"""``/buddy <link or ids>``: acknowledged at once, answered in the channel after the lookup."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import USAGE, Plan, Request, Responder
from bot.identity.accounts import SlackPerson
from bot.render.notice import render_help, render_notice
from bot.slack.app import Services
from bot.slack.clients import installation_key
from bot.slack.delivery import UNREACHABLE, deliver, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.intake import open_typed
from bot.slack.listeners.commands.subscriptions import SubscriptionCommands
from bot.work.queue import Unit

log = logging.getLogger(__name__)


class Subcommands(Protocol):
    """A family of ``/buddy <word> …`` commands: answered in the ack from what is known, and after
    it (the unit's work) where Buddy must be asked."""

    words: frozenset[str]

    async def ack(self, ack: AsyncAck, command: dict) -> None: ...

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None: ...


# Bolt looks every 10 ms whether ack() was called, then sends the acknowledgement; waiting a little
# longer before the lookup lets it go first, so that under a burst of commands the lookups already
# started never hold back the acknowledgements still to send.
ACK_HEADSTART_S = 0.02


class BuddyCommand:
    def __init__(self, services: Services, *more: Subcommands) -> None:
        self.services = services
        families: tuple[Subcommands, ...] = (SubscriptionCommands(services), *more)
        self.subcommands = {word: family for family in families for word in family.words}

    async def _plan(self, command: dict) -> tuple[Responder, Plan]:
        request = Request(
            text=command.get("text", ""),
            whole_argument=True,
            channel=command.get("channel_id"),
            user=command.get("user_id"),
            is_direct=str(command.get("channel_id", "")).startswith("D"),
        )
        responder = await self.services.responder_for(command)
        return responder, responder.plan(request)

    async def handle(self, ack: AsyncAck, command: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict) -> None:
        """Bolt (process_before_response=False) sends the acknowledgement as soon as ack() is called,
        while this goes on with the lookup. Not a lazy listener: Bolt deep-copies the request for those,
        Slack client and its shared connection pool included. The request is already a unit of work
        (``bot.slack.intake``): answering it is running the unit."""
        await self.ack(ack, command)
        await asyncio.sleep(ACK_HEADSTART_S)
        unit = context.get("unit")
        if unit is None:
            await self.answer(command, client, respond)
            return
        await self.services.work.run(unit)

    async def run(self, unit: Unit, client: AsyncWebClient) -> None:
        """The unit's work, the same whether it runs right after the ack or is taken over later."""
        command = open_typed(unit.payload, self.services.accounts.vault)
        respond = AsyncRespond(response_url=command.get("response_url"))
        await self.answer(command, client, respond, effects=SlackEffects(client, self.services.work, unit))

    def acknowledges_alone(self, command: dict) -> bool:
        """A lookup, help, a usage error: acknowledged from the command alone (``bot.slack.quick_ack``);
        a subcommand's acknowledgement may need more (a modal opened over it)."""
        return _first_word(command) not in self.subcommands

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        """Answers from what is known without Buddy: help, usage errors and refusals are ephemeral."""
        text = command.get("text", "").strip()
        word = _first_word(command)
        if word in {"", "help"}:
            await ack(**render_help())
            return
        if word in self.subcommands:
            await self.subcommands[word].ack(ack, command)
            return
        _, plan = await self._plan(command)
        if plan.refusal:
            await ack(**render_notice(plan.refusal))
        elif not plan.refs:
            await ack(**render_notice(f"I found no Buddy run in “{text[:200]}”. {USAGE}"))
        else:
            count = len(plan.refs)
            await ack(text=f":mag: Looking up {count} Buddy run{'s' if count > 1 else ''}…")

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        word = _first_word(command)
        if word in self.subcommands:
            await self.subcommands[word].answer(command, client, respond, effects=effects)
            return
        if word in {"", "help"}:
            return
        responder, plan = await self._plan(command)
        if plan.refusal or not plan.refs:
            return
        user = command.get("user_id")
        for index, ref in enumerate(plan.refs):
            answer = await responder.answer(ref, requested_by=user, person=SlackPerson.of(command))
            if answer.failed:
                await respond(response_type="ephemeral", **answer.message)
                continue
            try:
                await deliver(
                    client,
                    answer,
                    channel=command["channel_id"],
                    response_url=command.get("response_url"),
                    user=user,
                    watcher=self.services.watcher,
                    effects=effects,
                    name=f"link{index}",
                )
                if answer.report is not None:
                    await self.services.recent.asked(  # the Home tab lists what each person asked about
                        installation_key(client), SlackPerson.of(command), answer.report
                    )
            except SlackApiError as exc:
                error = slack_error(exc)
                log.warning("could not deliver the answer to %s: %s", user, error)
                hint = (
                    "Invite me with `/invite @buddy` and try again."
                    if error in UNREACHABLE
                    else "Try again in a minute; if it keeps happening, tell the bot's operator."
                )
                await respond(**render_notice(f"I could not post the answer here ({error}). {hint}"))
        if note := responder.skipped_note(plan):
            await respond(response_type="ephemeral", **render_notice(note))


def _first_word(command: dict) -> str:
    """The subcommand a ``/buddy`` text starts with (lower case), or '' for none."""
    words = command.get("text", "").split(maxsplit=1)
    return words[0].lower() if words else ""
