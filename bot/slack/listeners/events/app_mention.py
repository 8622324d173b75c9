"""@buddy <link or ids> in a channel or a thread: the answer goes into that thread."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request
from bot.slack.app import Services
from bot.slack.conversation import reply_to, without_mentions


class AppMention:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, event: dict, client: AsyncWebClient) -> None:
        request = Request(
            text=without_mentions(event.get("text", "")),
            whole_argument=True,
            channel=event.get("channel"),
            user=event.get("user"),
        )
        await reply_to(
            self.services,
            client,
            request,
            channel=event["channel"],
            ts=event["ts"],
            thread_ts=event.get("thread_ts"),
            quiet=False,
        )
