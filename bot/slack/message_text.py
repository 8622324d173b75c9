"""All the text of a Slack message where a link may hide: text, attachments and blocks."""

from __future__ import annotations

from typing import Any

_ATTACHMENT_FIELDS = ("pretext", "title", "title_link", "text", "fallback", "from_url", "original_url", "footer")


def message_text(event: dict[str, Any]) -> str:
    parts: list[str] = [str(event.get("text") or "")]
    for attachment in event.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        parts.extend(str(attachment.get(name) or "") for name in _ATTACHMENT_FIELDS)
        for field in attachment.get("fields") or []:
            if isinstance(field, dict):
                parts.append(f"{field.get('title') or ''} {field.get('value') or ''}")
        for action in attachment.get("actions") or []:
            if isinstance(action, dict):
                parts.append(str(action.get("url") or ""))
        parts.extend(_block_strings(attachment.get("blocks")))
    parts.extend(_block_strings(event.get("blocks")))
    return "\n".join(p for p in parts if p)


def _block_strings(node: Any) -> list[str]:
    """Every "text" and "url" string anywhere in a block tree (sections, buttons, rich text links)."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in {"text", "url"} and isinstance(value, str):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found
