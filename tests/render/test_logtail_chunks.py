"""A huge log line is cleaned a chunk at a time (to keep rendering cheap); the result must be exactly
what cleaning the whole line at once gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.logtail import _C1_CONTROLS, _ESCAPE_CODE, _LINE_WINDOW, CUT_MARK, MAX_LINE_CHARS, clean_log_line
from bot.render.mrkdwn import clean


def cleaned_at_once(line: str) -> str:
    """The line cleaned in one pass over the whole window: the reference."""
    parts = []
    for part in line.rstrip("\r\n").split("\n"):
        part = part.rstrip("\r")
        part = part[part.rfind("\r") + 1 :]
        window = part[:_LINE_WINDOW]
        text = clean(_C1_CONTROLS.sub("", _ESCAPE_CODE.sub("", window)))
        if len(text) > MAX_LINE_CHARS or len(window) < len(part):
            text = text[: MAX_LINE_CHARS - len(CUT_MARK)] + CUT_MARK
        parts.append(text)
    return "\n".join(parts)


# Escape codes of every kind, cut-off ones included, between runs of text of every length.
codes = st.sampled_from(["\x1b[31m", "\x1b[1;32;40m", "\x1b[", "\x1b[38;5;", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\",
                         "\x1b]", "\x1b(B", "\x1b", "\x1bM", "\x9b", "\x1b\\", "\x00", "\u202e"])
texts = st.one_of(st.text(max_size=50), st.integers(1, 9000).map(lambda n: "x" * n), st.just("0123456789;" * 400))
lines = st.lists(st.one_of(codes, texts), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(line=lines)
def test_cleaning_in_chunks_gives_what_cleaning_at_once_gives(line: str) -> None:
    assert clean_log_line(line) == cleaned_at_once(line)


def test_an_unterminated_code_that_runs_past_a_chunk_is_removed_whole() -> None:
    line = "start " + "\x1b]" + "t" * 10_000 + "\x07" + "end"
    assert clean_log_line(line) == cleaned_at_once(line) == "start end"
