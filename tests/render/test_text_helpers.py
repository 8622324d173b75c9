"""mrkdwn helpers, durations and status styles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.buddy.models import ActionExecution
from bot.render.limits import slack_len
from bot.render.mrkdwn import clean, clip, code_block, date_token, esc, fit_lines, link
from bot.render.status import status_style
from bot.render.timing import as_utc, human_duration, run_duration

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_date_token_has_a_utc_fallback() -> None:
    when = datetime(2024, 6, 3, 16, 0, tzinfo=timezone.utc)
    assert date_token(when) == "<!date^1717430400^{date_short} {time}|2024-06-03 16:00 UTC>"


def test_dates_without_a_zone_are_utc_and_others_are_converted() -> None:
    assert as_utc(datetime(2025, 1, 1, 9, 0)) == datetime(2025, 1, 1, 9, 0, tzinfo=timezone.utc)
    plus_two = timezone(timedelta(hours=2))
    assert as_utc(datetime(2025, 1, 1, 11, 0, tzinfo=plus_two)) == datetime(2025, 1, 1, 9, 0, tzinfo=timezone.utc)
    assert as_utc(datetime(1, 1, 1, tzinfo=plus_two)) is None  # before year 1 in UTC


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(milliseconds=47), "47 ms"),
        (timedelta(seconds=12, milliseconds=900), "12 s"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=1, seconds=5), "1 min 5 s"),
        (timedelta(hours=2, minutes=3, seconds=59), "2 h 3 min"),
        (timedelta(days=3, hours=4), "3 d 4 h"),
        (timedelta(days=2000), "2,000 d"),
        (timedelta(seconds=-5), "0 ms"),
    ],
)
def test_human_duration(span: timedelta, text: str) -> None:
    assert human_duration(span) == text


def test_running_duration_counts_to_now_and_survives_mixed_zones() -> None:
    running = ActionExecution(status="INPROGRESS", start_date=datetime(2025, 1, 1, 11, 58))
    assert run_duration(running, NOW) == "2 min so far"
    mixed = ActionExecution(
        status="SUCCESSFUL", start_date=datetime(2025, 1, 1, 11, 0), finish_date=NOW
    )
    assert run_duration(mixed, NOW) == "1 h"
    assert run_duration(ActionExecution(status="ENQUEUED"), NOW) is None


@pytest.mark.parametrize(
    ("status", "emoji", "label"),
    [
        ("SUCCESSFUL", ":white_check_mark:", "Successful"),
        ("failed", ":x:", "Failed"),
        ("WAITING_FOR_APPLY", ":raised_hand:", "Waiting for approval"),
        ("WAITING_FOR_SETTABLE_VARIABLES", ":pencil:", "Waiting for variables"),
        ("SOMETHING_NEW", ":grey_question:", "SOMETHING_NEW"),
        (None, ":grey_question:", "Unknown status"),
    ],
)
def test_status_style(status: str | None, emoji: str, label: str) -> None:
    style = status_style(status)
    assert (style.emoji, style.label) == (emoji, label)


def test_clean_removes_controls_and_bidi_overrides() -> None:
    assert clean("a\x00b\x1b[31mc\u202ed\te\nf") == "ab[31mcd\te\nf"
    assert clean("  a \n\t b  ", one_line=True) == "a b"


def test_clip_counts_astral_characters_as_two() -> None:
    cut = clip("🚀" * 100, 11)
    assert slack_len(cut) <= 11
    assert cut == "🚀" * 5 + "…"


def test_esc_cuts_huge_input_quickly_and_marks_the_cut() -> None:
    huge = "<" * 10_000_000
    cut = esc(huge, 200)
    assert slack_len(cut) <= 200 and cut.endswith("…")
    assert esc("\x00" * 10_000 + "x", 10) == "…"  # what was cut is still marked


def test_fit_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    lines = [f"line {n}" for n in range(100)]
    text = fit_lines(lines, 60)
    assert slack_len(text) <= 60
    assert text.endswith("more") and text.startswith("line 0\nline 1")
    shown = text.count("line ")
    assert text.endswith(f"…and {100 - shown} more")
    assert fit_lines(["a", "b"], 60) == "a\nb"
    assert fit_lines(["a"], 60, total=10_000) == "a\n…and 9,999 more"


def test_code_block_cannot_be_closed_by_its_content() -> None:
    block = code_block("```evil``` `x`")
    assert block.startswith("```\u200b`") and block.endswith("```")
    assert "```" not in block[3:-3]


def test_link_only_for_safe_urls() -> None:
    assert link("https://a.b/c?d=1&e=2", "L") == "<https://a.b/c?d=1&amp;e=2|L>"
    for url in ("javascript:alert(1)", "https://a.b/x y", "https://a.b/x|y", "https://a.b/<x>", None, "https://a/" + "x" * 600):
        assert link(url, "L") == "L"
