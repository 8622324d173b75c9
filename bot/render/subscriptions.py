"""Replies to ``/buddy subscribe | unsubscribe | subscriptions``: a channel's list with a remove button
per subscription, and plain replies (escaped: they quote what the person typed)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.render.blocks import Block, context, plain_text, section
from bot.render.limits import MAX_BLOCKS, MAX_SECTION_TEXT
from bot.render.mrkdwn import date_token, esc, link
from bot.subscriptions.manage import MODE_MEANING, SUBSCRIBE_USAGE, describe
from bot.subscriptions.store import Subscription

REMOVE_ACTION = "buddy_subscription_remove"
LISTED_AT_MOST = MAX_BLOCKS - 3  # room for the title and the notes


def render_reply(text: str) -> dict:
    body = esc(text, MAX_SECTION_TEXT - 200, one_line=False)
    return {"text": body, "blocks": [section(body)]}


def render_subscription_list(subscriptions: list[Subscription], *, note: str | None = None) -> dict:
    """This channel's subscriptions, each with a Remove button; ``note`` (escaped here) goes on top."""
    blocks: list[Block] = [section(esc(note, 1000, one_line=False))] if note else []
    if not subscriptions:
        text = "This channel follows no Buddy pipelines."
        blocks += [section(text), context(esc(SUBSCRIBE_USAGE, 1000))]
        return {"text": text, "blocks": blocks}
    title = f"This channel follows {len(subscriptions)} Buddy subscription{'s' if len(subscriptions) > 1 else ''}:"
    blocks.append(section(f"*{title}*"))
    blocks += [_row(subscription) for subscription in subscriptions[:LISTED_AT_MOST]]
    hidden = len(subscriptions) - LISTED_AT_MOST
    if hidden > 0:
        blocks.append(context(f"…and {hidden:,} more; remove some with `/buddy unsubscribe <link>`."))
    return {"text": title, "blocks": blocks}


def _row(subscription: Subscription) -> Block:
    label = link(subscription.target.web_url, esc(describe(subscription), 500))
    mode = subscription.mode
    since = date_token(datetime.fromtimestamp(subscription.created_at, tz=timezone.utc))
    by = f" by <@{subscription.created_by}>" if subscription.created_by and subscription.created_by.isalnum() else ""
    return {
        **section(f"{label}\n*{mode.value}*: {MODE_MEANING[mode]} · added {since}{by}"),
        "accessory": {
            "type": "button",
            "text": plain_text("Remove"),
            "action_id": REMOVE_ACTION,
            "value": str(subscription.id),
            "style": "danger",
        },
    }
