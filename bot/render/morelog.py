"""The "More log" button: what its value carries, and the earlier log lines it posts as a snippet.

The value is ``"<end> <action link>"``: the log line index the next block ends before, and the
action's link. The first click has no ``<end>`` yet (it starts just before the tail in the thread).
A person can edit a button's value, so the listener re-reads the link like any pasted link and
checks ``<end>`` against the log; nothing in the value is trusted.
"""

from __future__ import annotations

import re

from bot.render.facts import run_title
from bot.render.logtail import SNIPPET_MAX_BYTES, TITLE_NAME_CHARS, clean_log_line
from bot.render.mrkdwn import clean, clip
from bot.report import RunReport

MORE_LOG_ACTION = "buddy_more_log"
MAX_END_DIGITS = 9
MAX_END_MARK = MAX_END_DIGITS + 1  # the digits and the space: what a value may add to the link
_END = re.compile(rf"\s*([0-9]{{1,{MAX_END_DIGITS}}})\s")


def more_log_value(action_url: str, end: int | None = None) -> str:
    return action_url if end is None else f"{end} {action_url}"


def more_log_end(value: str) -> int | None:
    """The ``<end>`` a value carries, or None (the first click, or a value without one)."""
    match = _END.match(value)
    return int(match.group(1)) if match else None


def render_log_block(lines: list[str]) -> tuple[str, int]:
    """Snippet text for ``lines`` (cleaned, the last ones kept when all would pass Slack's snippet
    size) and how many of the first lines were left out for size."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        line = clean_log_line(line)
        size += len(line.encode("utf-8")) + 1
        if size >= SNIPPET_MAX_BYTES:
            break
        kept.append(line)
    return "\n".join(reversed(kept)), len(lines) - len(kept)


def log_block_title(report: RunReport, start: int, end: int, total: int | None) -> str:
    """ "Log lines 131–180 of 200 · Run tests" (1-based, as a person counts lines)."""
    name = clip(clean(run_title(report)[: 4 * TITLE_NAME_CHARS], one_line=True), TITLE_NAME_CHARS)
    of = f" of {total:,}" if total else ""
    return f"Log lines {start + 1:,}–{end:,}{of} · {name}"
