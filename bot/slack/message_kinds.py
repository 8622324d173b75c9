"""Which Slack messages are requests to the bot: decided before any listener runs (the intake makes
those a unit of work) and again by the listener."""

from __future__ import annotations

# Subtypes that are a new message with content; edits, deletions and joins are not requests.
ANSWERED_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share"}


def posted_by_bot(event: dict) -> bool:
    """Buddy's notifications and other integrations post as bots; people do not."""
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message"


def worth_answering(event: dict, *, reply_to_links: bool) -> bool:
    """A new message in a DM, or a bot's message in a channel (Buddy's notifications). A person's link
    in a channel is unfurled instead (link_shared): a thread reply would say it twice. A person's
    mention, or any mention with REPLY_TO_LINKS off, is answered through app_mention."""
    if event.get("subtype") not in ANSWERED_SUBTYPES or "ts" not in event or "channel" not in event:
        return False
    return event.get("channel_type") == "im" or (reply_to_links and posted_by_bot(event))
