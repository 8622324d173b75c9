"""@buddy <link or ids> in a channel or a thread: the answer goes into that thread."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request, Responder
from bot.identity.accounts import SlackPerson
from bot.slack.app import Services
from bot.slack.conversation import reply_to, reply_to_bot_message, without_mentions
from bot.slack.effects import SlackEffects
from bot.slack.message_kinds import posted_by_bot
from bot.work.queue import Unit


class AppMention:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, unit: Unit, client: AsyncWebClient) -> None:
        person = SlackPerson.of_event(unit.payload)
        effects = SlackEffects(client, self.services.work, unit)
        responder = await self.services.responder_for(unit.payload)
        await self.answer(unit.payload["event"], client, effects=effects, person=person, responder=responder)

    async def answer(
        self,
        event: dict,
        client: AsyncWebClient,
        *,
        effects: SlackEffects | None = None,
        person: SlackPerson | None = None,
        responder: Responder | None = None,
    ) -> None:
        if "channel" not in event or "ts" not in event:
            return  # no message to answer in the thread of
        if posted_by_bot(event):
            # Its message event comes too: answered the same way, whichever arrives first.
            await reply_to_bot_message(self.services, client, event, effects=effects, responder=responder)
            return
        request = Request(
            text=without_mentions(event.get("text", "")),
            whole_argument=True,
            channel=event.get("channel"),
            user=event.get("user"),
            person=person,
        )
        await reply_to(
            self.services,
            client,
            request,
            channel=event["channel"],
            ts=event["ts"],
            thread_ts=event.get("thread_ts"),
            quiet=False,
            effects=effects,
            responder=responder,
        )
