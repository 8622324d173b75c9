"""Messages in conversations the bot is in: DMs are requests; in channels, Buddy run links posted by
bots get the details in their thread (Buddy's own notifications post such links, often inside
attachments). A link a person pastes is unfurled instead (``link_shared``)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request
from bot.slack.app import Services
from bot.slack.conversation import reply_to, without_mentions
from bot.slack.message_text import message_text

# Subtypes that are a new message with content; edits, deletions and joins are not requests.
ANSWERED_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share"}


class Message:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, event: dict, client: AsyncWebClient, context: dict) -> None:
        if event.get("subtype") not in ANSWERED_SUBTYPES or "ts" not in event or "channel" not in event:
            return
        channel, ts = event["channel"], event["ts"]
        if event.get("channel_type") == "im":
            request = Request(
                text=without_mentions(event.get("text", "")),
                whole_argument=True,
                channel=channel,
                user=event.get("user"),
                is_direct=True,
            )
            await reply_to(self.services, client, request, channel=channel, ts=ts, thread_ts=event.get("thread_ts"), quiet=False)
            return
        bot_user = context.get("bot_user_id")
        if not self.services.settings.reply_to_links or (bot_user and f"<@{bot_user}" in (event.get("text") or "")):
            return  # a mention is answered through app_mention
        if not posted_by_bot(event):
            return  # a person's link is unfurled instead (link_shared); a thread reply would say it twice
        request = Request(text=message_text(event), whole_argument=False, channel=channel, user=event.get("user"))
        await reply_to(
            self.services, client, request, channel=channel, ts=ts, thread_ts=event.get("thread_ts"), quiet=True, runs_only=True
        )


def posted_by_bot(event: dict) -> bool:
    """Buddy's notifications and other integrations post as bots; people do not."""
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message"
