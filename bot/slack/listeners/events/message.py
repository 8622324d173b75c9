"""Messages in conversations the bot is in: DMs are requests; in channels, Buddy run links posted by
bots get the details in their thread (Buddy's own notifications post such links, often inside
attachments). A link a person pastes is unfurled instead (``link_shared``)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request, Responder
from bot.identity.accounts import SlackPerson
from bot.slack.app import Services
from bot.slack.conversation import reply_to, reply_to_bot_message, without_mentions
from bot.slack.effects import SlackEffects
from bot.slack.message_kinds import worth_answering
from bot.work.queue import Unit


class Message:
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
        if not worth_answering(event, reply_to_links=self.services.settings.reply_to_links):
            return
        channel, ts = event["channel"], event["ts"]
        if event.get("channel_type") == "im":
            request = Request(
                text=without_mentions(event.get("text", "")),
                whole_argument=True,
                channel=channel,
                user=event.get("user"),
                is_direct=True,
                person=person,
            )
            await reply_to(
                self.services,
                client,
                request,
                channel=channel,
                ts=ts,
                thread_ts=event.get("thread_ts"),
                quiet=False,
                effects=effects,
                responder=responder,
            )
            return
        await reply_to_bot_message(self.services, client, event, effects=effects, responder=responder)
