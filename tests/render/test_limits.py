"""block_kit_violations catches every kind of broken limit, so the property tests can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bot.render import block_kit_violations
from bot.render.limits import slack_len


def _valid() -> dict[str, Any]:
    return {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "body"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}, {"type": "mrkdwn", "text": "b"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]},
            {
                "type": "actions",
                "block_id": "buttons",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open"},
                        "action_id": "open",
                        "url": "https://x",
                        "value": "v",
                    }
                ],
            },
        ],
    }


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(message: dict) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        target = message
        for part in parents:
            target = target[part]
        target[last] = value

    return change


BROKEN = {
    "no fallback text": _set("text", ""),
    "fallback text too long": _set("text", "x" * 40_001),
    "too many blocks": _set("blocks", [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51),
    "unknown block type": _set("blocks.0.type", "video"),
    "block_id too long": _set("blocks.1.block_id", "b" * 256),
    "header too long": _set("blocks.0.text.text", "h" * 151),
    "header not plain_text": _set("blocks.0.text.type", "mrkdwn"),
    "header empty": _set("blocks.0.text.text", " "),
    "section text too long": _set("blocks.1.text.text", "s" * 3001),
    "section text empty": _set("blocks.1.text.text", ""),
    "section without text or fields": _set("blocks.1", {"type": "section"}),
    "too many fields": _set("blocks.2.fields", [{"type": "mrkdwn", "text": "f"}] * 11),
    "field too long": _set("blocks.2.fields.1.text", "f" * 2001),
    "too many context elements": _set("blocks.3.elements", [{"type": "mrkdwn", "text": "c"}] * 11),
    "context element too long": _set("blocks.3.elements.0.text", "c" * 3001),
    "too many buttons": _set("blocks.4.elements", [_valid()["blocks"][4]["elements"][0]] * 26),
    "button text too long": _set("blocks.4.elements.0.text.text", "b" * 76),
    "button url too long": _set("blocks.4.elements.0.url", "https://x/" + "u" * 2991),
    "button value too long": _set("blocks.4.elements.0.value", "v" * 2001),
    "action_id too long": _set("blocks.4.elements.0.action_id", "a" * 256),
    "too much text in total": _set(
        "blocks", [{"type": "section", "text": {"type": "mrkdwn", "text": "t" * 3000}}] * 5
    ),
    "astral characters count double": _set("blocks.0.text.text", "🚀" * 76),
}


def test_the_valid_message_passes() -> None:
    assert block_kit_violations(_valid()) == []


@pytest.mark.parametrize("name", BROKEN)
def test_each_violation_is_caught(name: str) -> None:
    message = copy.deepcopy(_valid())
    BROKEN[name](message)
    assert block_kit_violations(message) != []


def test_an_unfurl_needs_no_text() -> None:
    unfurl = {"blocks": _valid()["blocks"]}
    assert block_kit_violations(unfurl, require_text=False) == []
    assert block_kit_violations(unfurl) == ["message: top-level text is missing"]


def test_slack_len_counts_utf16_units() -> None:
    assert slack_len("abc") == 3
    assert slack_len("🚀") == 2
    assert slack_len("é") == 1
