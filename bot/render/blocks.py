"""Block Kit building blocks as plain dicts (the core never imports slack_sdk).

The text passed in must already be escaped and cut to the limits in `bot.render.limits`.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

OPEN_ACTION = "buddy_open"  # the Open in Buddy link button: Slack still reports its clicks
CLAIM_ACTION = "buddy_claim"  # "I'm on it", on every message about a failure; its value is the run's link
LINK_ACTION = "buddy_link_account"  # "Link Buddy account", on a refusal to act for someone not linked; value: the host


def mrkdwn(text: str) -> Block:
    # verbatim: Slack would otherwise turn bare URLs, #channel names and some @mentions in text
    # that came from Buddy into links and mentions.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text)}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def fields_section(fields: list[str]) -> Block:
    return {"type": "section", "fields": [mrkdwn(field) for field in fields]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text) for text in texts]}


def button(text: str, *, action_id: str, url: str | None = None, value: str | None = None) -> Block:
    element: Block = {"type": "button", "text": plain_text(text), "action_id": action_id}
    if url is not None:
        element["url"] = url
    if value is not None:
        element["value"] = value
    return element


def actions(elements: list[Block], *, block_id: str) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": elements}
