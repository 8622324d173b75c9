"""The log tail as a snippet (plain, < 1 MB) and inline (escaped, one section)."""

from __future__ import annotations

from bot.render import inline_log_block, log_tail_title, render_log_tail
from bot.render.limits import MAX_SECTION_TEXT, slack_len
from bot.render.logtail import CUT_MARK, MAX_LINE_CHARS, SNIPPET_MAX_BYTES, clean_log_line
from tests.render.helpers import seed_report


def test_ansi_codes_and_progress_redraws_are_removed() -> None:
    assert clean_log_line("\x1b[1;31mERROR\x1b[0m: \x1b[?25lfailed") == "ERROR: failed"
    assert clean_log_line("\x1b]0;window title\x07text \x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\") == "text link"
    assert clean_log_line("a\x1b(Bb\x1bc lone \x1b") == "abc lone "
    assert clean_log_line("10%\r50%\r100%") == "100%"
    assert clean_log_line("done\r\n") == "done"
    assert clean_log_line("tab\there\x00\x9b") == "tab\there"


def test_long_lines_are_cut() -> None:
    line = clean_log_line("x" * 10_000_000)
    assert len(line) == MAX_LINE_CHARS and line.endswith(CUT_MARK)
    # Escape codes do not count towards the length.
    assert clean_log_line("\x1b[31m" * 1000 + "ok") == "ok"


def test_snippet_stays_under_one_megabyte_keeping_the_last_lines() -> None:
    lines = [f"{n:04d}" + "é" * 1990 for n in range(1000)]
    text = render_log_tail(seed_report(log_tail=lines, log_total_lines=5000))
    assert len(text.encode("utf-8")) < SNIPPET_MAX_BYTES
    assert text.endswith(lines[-1])
    kept = text.count("\n") + 1
    assert log_tail_title(seed_report(log_tail=lines, log_total_lines=5000)) == (
        f"Last {kept} of 5,000 log lines · Pass arguments"
    )


def test_empty_log() -> None:
    report = seed_report(log_tail=[], log_total_lines=0)
    assert render_log_tail(report) == ""
    assert log_tail_title(report) == "No log lines · Pass arguments"
    assert inline_log_block("") == []
    assert render_log_tail(seed_report(log_tail=["", "\x1b[0m"])) == ""


def test_title_counts_with_thousands_separators() -> None:
    report = seed_report(log_tail=["a"] * 20, log_total_lines=1234)
    assert log_tail_title(report) == "Last 20 of 1,234 log lines · Pass arguments"


def test_inline_block_keeps_the_last_lines_that_fit() -> None:
    lines = [f"line {n} <&>" for n in range(1000)]
    blocks = inline_log_block("\n".join(lines))
    text = blocks[0]["text"]["text"]
    assert slack_len(text) <= MAX_SECTION_TEXT
    assert text.endswith("line 999 &lt;&amp;&gt;```")
    assert text.startswith("_…") and "earlier lines not shown_\n```" in text


def test_inline_block_keeps_the_end_of_a_single_huge_line() -> None:
    text = inline_log_block("&" * 2000 + "END")[0]["text"]["text"]
    assert slack_len(text) <= MAX_SECTION_TEXT
    assert text.endswith("END```")
