"""Block Kit's size limits, and a check that a message keeps them.

Slack rejects a whole message (`invalid_blocks`) when one limit is broken, and slack_sdk does not
check plain dicts, so every renderer's output is run through `block_kit_violations` in the tests.
Sources: docs.slack.dev block and element reference pages (see slack-platform.md §4).
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_BUTTON_VALUE = 2000
MAX_ID = 255  # action_id and block_id
MAX_MESSAGE_TEXT = 40_000
# Slack recommends about 4,000 characters for the top-level text; we keep ours shorter still.
MAX_FALLBACK_TEXT = 3000
# Undocumented: Slack answers `msg_blocks_too_long` at about 13,200 characters of block text in
# total (bolt-js#2509), so we stay well below that.
MAX_TOTAL_BLOCK_TEXT = 12_000


def slack_len(text: str) -> int:
    """Length in UTF-16 code units, which is never less than Slack's count however Slack counts.

    An emoji outside the Basic Multilingual Plane is one Python character but two UTF-16 units.
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def block_kit_violations(message: dict[str, Any], *, require_text: bool = True) -> list[str]:
    """Every broken limit in a chat.postMessage / chat.unfurl payload, as readable lines; [] if none.

    `require_text=False` is for an unfurl, which has blocks only.
    """
    problems: list[str] = []
    text = message.get("text")
    if require_text and (not isinstance(text, str) or not text.strip()):
        problems.append("message: top-level text is missing")
    elif isinstance(text, str) and slack_len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"message: text is {slack_len(text)} > {MAX_MESSAGE_TEXT} chars")

    blocks = message.get("blocks", [])
    if not isinstance(blocks, list):
        return [*problems, "message: blocks is not a list"]
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"message: {len(blocks)} > {MAX_BLOCKS} blocks")
    total = 0
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type') if isinstance(block, dict) else block!r})"
        checker = _BLOCK_CHECKS.get(str(block.get("type"))) if isinstance(block, dict) else None
        if checker is None:
            problems.append(f"{where}: unexpected block type")
            continue
        problems += [f"{where}: {problem}" for problem in _check_id(block, "block_id") + checker(block)]
        total += sum(slack_len(text) for text in _texts(block))
    if total > MAX_TOTAL_BLOCK_TEXT:
        problems.append(f"message: {total} > {MAX_TOTAL_BLOCK_TEXT} chars of text across blocks")
    return problems


def _check_text(obj: Any, name: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{name} is not a text object"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{name} must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return [f"{name} is empty"]
    if slack_len(text) > limit:
        return [f"{name} is {slack_len(text)} > {limit} chars"]
    return []


def _check_id(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, str) or not value or slack_len(value) > MAX_ID:
        return [f"{key} must be 1..{MAX_ID} chars"]
    return []


def _check_header(block: dict[str, Any]) -> list[str]:
    return _check_text(block.get("text"), "header text", MAX_HEADER_TEXT, plain_only=True)


def _check_section(block: dict[str, Any]) -> list[str]:
    fields = block.get("fields")
    if "text" not in block and not fields:
        return ["section has neither text nor fields"]
    problems = _check_text(block["text"], "section text", MAX_SECTION_TEXT) if "text" in block else []
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
            problems.append(f"section needs 1..{MAX_FIELDS} fields")
        else:
            for number, field in enumerate(fields):
                problems += _check_text(field, f"field {number}", MAX_FIELD_TEXT)
    return problems


def _check_context(block: dict[str, Any]) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
        return [f"context needs 1..{MAX_CONTEXT_ELEMENTS} elements"]
    problems = []
    for number, element in enumerate(elements):
        problems += _check_text(element, f"context element {number}", MAX_CONTEXT_TEXT)
    return problems


def _check_actions(block: dict[str, Any]) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
        return [f"actions needs 1..{MAX_ACTIONS_ELEMENTS} elements"]
    problems = []
    for number, element in enumerate(elements):
        if not isinstance(element, dict) or element.get("type") != "button":
            problems.append(f"element {number} is not a button")
            continue
        problems += _check_text(element.get("text"), f"button {number} text", MAX_BUTTON_TEXT, plain_only=True)
        problems += [f"button {number}: {problem}" for problem in _check_id(element, "action_id")]
        for key, limit in (("url", MAX_BUTTON_URL), ("value", MAX_BUTTON_VALUE)):
            value = element.get(key)
            if value is not None and (not isinstance(value, str) or not value or slack_len(value) > limit):
                problems.append(f"button {number}: {key} must be 1..{limit} chars")
    return problems


def _texts(block: dict[str, Any]) -> list[str]:
    """The text a block shows: what counts towards Slack's undocumented total."""
    objects = [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]
    texts = []
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "button":
            obj = obj.get("text")
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            texts.append(obj["text"])
    return texts


_BLOCK_CHECKS = {
    "header": _check_header,
    "section": _check_section,
    "context": _check_context,
    "actions": _check_actions,
    "divider": lambda block: [],
}
