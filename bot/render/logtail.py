"""The end of an action's log: plain text for a snippet upload, or a code block when that fails."""

from __future__ import annotations

import re

from bot.render.blocks import Block, section
from bot.render.facts import run_title
from bot.render.limits import MAX_SECTION_TEXT, slack_len
from bot.render.mrkdwn import clean, clip, code_block, escape
from bot.render.scrub import learn_run_secrets, scrub
from bot.report import RunReport

# Slack refuses snippets of 1 MB or more (`snippet_too_large`); 1 MB may mean 10^6 or 2^20 bytes.
SNIPPET_MAX_BYTES = 1_000_000
MAX_LINE_CHARS = 2000
CUT_MARK = "… [cut]"
TITLE_NAME_CHARS = 100
# Only this much of a huge line is scanned: room for MAX_LINE_CHARS of text between colour codes.
_LINE_WINDOW = 16 * MAX_LINE_CHARS
_CHUNK_CHARS = 2 * MAX_LINE_CHARS
# CSI (colours, cursor moves), OSC (window titles, hyperlinks; ended by BEL or ESC \ or not at all),
# other two- and three-byte escapes, then any ESC left on its own.
_ESCAPE_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]+[0-~]|\x1b[@-_]?")
_C1_CONTROLS = re.compile(r"[\x80-\x9f]")


def clean_log_line(line: str) -> str:
    """What a terminal would show of `line`, without colours and secret values, at most MAX_LINE_CHARS long."""
    return "\n".join(_visible(part) for part in line.rstrip("\r\n").split("\n"))


def _visible(part: str) -> str:
    part = part.rstrip("\r")
    part = part[part.rfind("\r") + 1 :]  # a progress bar redraws its line after \r: keep the last drawing
    window = part[:_LINE_WINDOW]
    text, read_whole = _without_codes(window)
    whole = read_whole and len(window) == len(part)
    # Masked once the codes are gone (a colour code inside a value hides it) and before the cut.
    text = scrub(text, open_end=not whole)
    if len(text) > MAX_LINE_CHARS or not whole:
        return text[: MAX_LINE_CHARS - len(CUT_MARK)] + CUT_MARK
    return text


def _without_codes(window: str) -> tuple[str, bool]:
    """``window`` without escape codes and control characters, read a chunk at a time and only until
    the text is past MAX_LINE_CHARS (the rest would be cut): a huge line costs what a long one does.
    A chunk never ends inside an escape code, so the chunks' texts add up to the whole one's. The
    flag says whether all of ``window`` was read."""
    if len(window) <= _CHUNK_CHARS:  # most lines: one chunk
        return clean(_C1_CONTROLS.sub("", _ESCAPE_CODE.sub("", window))), True
    pieces: list[str] = []
    length = start = 0
    while start < len(window) and length <= MAX_LINE_CHARS:
        end = start + _CHUNK_CHARS
        last_escape = window.rfind("\x1b", start, end)
        if last_escape >= 0:  # the code it starts may run past the chunk: the chunk takes all of it
            end = max(end, _ESCAPE_CODE.match(window, last_escape).end())  # type: ignore[union-attr]
        piece = clean(_C1_CONTROLS.sub("", _ESCAPE_CODE.sub("", window[start:end])))
        pieces.append(piece)
        length += len(piece)
        start = end
    return "".join(pieces), start >= len(window)


def _tail(report: RunReport) -> list[str]:
    """The cleaned last lines of the log that fit in a snippet together."""
    kept: list[str] = []
    size = 0
    for line in reversed(report.log_tail):
        line = clean_log_line(line)
        size += len(line.encode("utf-8")) + 1
        if size >= SNIPPET_MAX_BYTES:
            break
        kept.append(line)
    return kept[::-1]


def render_log_tail(report: RunReport, *, secret_key_regex: re.Pattern[str] | None = None) -> str:
    """The snippet's content: only the log lines (Slack does not parse a file); "" when there are none.

    Secret values are masked: those met before, and this run's (see ``scrub.learn_run_secrets``).
    """
    learn_run_secrets(report, secret_key_regex)
    return _snippet(_tail(report))


def log_tail_title(report: RunReport) -> str:
    """ "Last 20 of 1,234 log lines · Pass arguments"."""
    return _title(report, _tail(report))


def render_log_tail_and_title(report: RunReport, *, secret_key_regex: re.Pattern[str] | None = None) -> tuple[str, str]:
    """The snippet and its title, the tail cleaned once for both."""
    learn_run_secrets(report, secret_key_regex)
    tail = _tail(report)
    return _snippet(tail), _title(report, tail)


def _snippet(tail: list[str]) -> str:
    text = "\n".join(tail)
    return text if text.strip() else ""


def _title(report: RunReport, tail: list[str]) -> str:
    shown = len(tail) if "".join(tail).strip() else 0
    name = clip(scrub(clean(run_title(report)[: 4 * TITLE_NAME_CHARS], one_line=True)), TITLE_NAME_CHARS)
    if not shown:
        return f"No log lines · {name}"
    total = max(shown, report.log_total_lines or 0)
    noun = "log line" if total == 1 else "log lines"
    return f"Last {shown:,} of {total:,} {noun} · {name}"


def inline_log_block(text: str) -> list[Block]:
    """`text` (a log tail) as a code block in one section, keeping the last lines that fit; [] if empty."""
    if not text.strip():
        return []
    lines = clean(text).split("\n")
    # Room for the fences, a leading zero-width space and the "…N earlier lines" note.
    budget = MAX_SECTION_TEXT - 64
    kept: list[str] = []
    for line in reversed(lines):
        line = scrub(line)  # the callers' text is masked already; what is shown inline is checked anyway
        escaped = escape(line)
        cost = slack_len(escaped) + escaped.count("`") + 1  # code_block adds a character per backtick
        if cost > budget:
            if not kept:  # the last line alone is too long: keep its end
                kept.append("…" + escape(line[-(budget // 5) :]))
            break
        kept.append(escaped)
        budget -= cost
    hidden = len(lines) - len(kept)
    note = f"_…{hidden:,} earlier lines not shown_\n" if hidden else ""
    return [section(note + code_block("\n".join(reversed(kept))))]
