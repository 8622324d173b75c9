"""The "Why it failed" section in the summary, the terminal and a preview, and "I'm on it".

The Why objects here are built by hand, as the failure finder would return them: the renderers'
job is to show one safely (escaped, without colours or secret values, within Block Kit's limits).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from bot.render import block_kit_violations, render_log_tail, render_plain, render_summary, render_unfurl
from bot.render.blocks import CLAIM_ACTION
from bot.render.facts import MASK
from bot.render.limits import MAX_SECTION_TEXT, MAX_TOTAL_BLOCK_TEXT, slack_len
from bot.render.why import CODE_CHARS, TEST_NAMES, why_blocks, why_plain_lines, why_unfurl_line
from bot.report import RunReport
from bot.why.model import Why
from tests.render.helpers import NOW, SECRET_KEY_REGEX, SEED_REF, action_execution, mrkdwn_texts, seed_report

SECRET = "s3cr3t-value"


def why(**changes: Any) -> Why:
    fields: dict[str, Any] = {
        "line_number": 1234,
        "context": ["collecting 3 items", "tests/test_pricing.py F..", "", "E   assert 120 == 119", "", "1 failed", "exit 1"],
        "error_start": 3,
        "error_end": 4,
        "tool": "pytest",
        "rule": "assertion",
        "failed_tests": ["tests/test_pricing.py::test_vat"],
        "failed_test_count": 1,
    }
    return Why(**(fields | changes))


def failed_report(found: Why | None, **changes: Any) -> RunReport:
    action = action_execution(**({"status": "FAILED", "error_message": "exit code 1"} | changes))
    return seed_report(action=action, actions=[action], why=found, log_tail=["step 19", "exit code 1"], log_total_lines=1300)


def summary(report: RunReport, **kw: Any) -> dict:
    message = render_summary(report, secret_key_regex=SECRET_KEY_REGEX, now=NOW, **kw)
    assert block_kit_violations(message) == []
    return message


def section_text(found: Why) -> str:
    [block] = why_blocks(found)
    assert block["type"] == "section" and slack_len(block["text"]["text"]) <= MAX_SECTION_TEXT
    return str(block["text"]["text"])


def code_lines(text: str) -> list[str]:
    """The lines of the section's code block."""
    return text.split("```")[1].split("\n")


# -- what the section says -------------------------------------------------------------------------


def test_the_summary_of_a_failed_run_shows_why_right_under_its_header() -> None:
    message = summary(failed_report(why()))
    text = message["blocks"][1]["text"]["text"]
    assert text.startswith("*Why it failed* · line 1,234 of the log\n```")
    assert code_lines(text) == ["  collecting 3 items", "  tests/test_pricing.py F..", "", "› E   assert 120 == 119", "", "  1 failed", "  exit 1"]
    assert text.endswith("```\n1 test failed: `tests/test_pricing.py::test_vat`")


def test_several_error_lines_are_all_marked_and_the_lines_named() -> None:
    found = why(context=["a", "Traceback (most recent call last):", '  File "x.py", line 3', "KeyError: 'vat'", "b"],
                error_start=1, error_end=4, line_number=10)
    text = section_text(found)
    assert text.startswith("*Why it failed* · lines 10–12 of the log\n")
    assert code_lines(text) == ["  a", "› Traceback (most recent call last):", '›   File "x.py", line 3', "› KeyError: 'vat'", "  b"]


def test_at_most_three_lines_of_context_on_either_side() -> None:
    context = [f"before {n}" for n in range(6)] + ["ERROR here"] + [f"after {n}" for n in range(6)]
    lines = code_lines(section_text(why(context=context, error_start=6, error_end=7)))
    assert lines == ["  before 3", "  before 4", "  before 5", "› ERROR here", "  after 0", "  after 1", "  after 2"]


def test_a_finder_without_a_line_number_or_with_indices_out_of_range_still_renders() -> None:
    assert section_text(why(line_number=0)).startswith("*Why it failed*\n```")
    lines = code_lines(section_text(why(error_start=5, error_end=99)))
    assert lines == ["", "  E   assert 120 == 119", "", "› 1 failed", "› exit 1"]
    assert why_blocks(why(error_start=-3, error_end=-1, failed_tests=[], failed_test_count=0)) == []
    assert why_blocks(why(context=[], error_start=0, error_end=0)) != []  # the failed tests alone


def test_no_why_no_section_and_the_rest_unchanged() -> None:
    with_why = summary(failed_report(why()))
    without = summary(failed_report(None))
    assert with_why["blocks"][2:] == without["blocks"][1:]
    assert "Why it failed" not in json.dumps(without)
    assert why_blocks(None) == [] and why_plain_lines(None) == [] and why_unfurl_line(None) == ""


def test_the_thread_snippet_stays_the_tail() -> None:
    report = failed_report(why())
    assert render_log_tail(report) == "step 19\nexit code 1"


# -- failed tests ----------------------------------------------------------------------------------


def test_many_failed_tests_name_the_first_and_count_the_rest() -> None:
    names = [f"test_{n}" for n in range(500)]
    text = section_text(why(failed_tests=names[:40], failed_test_count=500))
    shown = ", ".join(f"`test_{n}`" for n in range(TEST_NAMES))
    assert text.endswith(f"\n500 tests failed: {shown} … and {500 - TEST_NAMES} more")


def test_long_test_names_are_cut_and_fewer_shown_within_the_budget() -> None:
    names = [f"tests/{'deep/' * 100}test_{n}.py::test_case" for n in range(8)]
    tests_line = section_text(why(failed_tests=names, failed_test_count=8)).split("\n")[-1]
    assert tests_line.startswith("8 tests failed: `tests/deep/")
    hidden = int(re.search(r"… and (\d+) more$", tests_line).group(1))  # type: ignore[union-attr]
    assert 0 < hidden < 8 and tests_line.count("`") == 2 * (8 - hidden)
    assert slack_len(tests_line) <= 500


def test_the_count_wins_over_the_names_and_names_alone_count_too() -> None:
    assert section_text(why(failed_tests=[], failed_test_count=7)).endswith("\n7 tests failed")
    assert section_text(why(failed_tests=["a", "b"], failed_test_count=0)).endswith("\n2 tests failed: `a`, `b`")
    assert section_text(why(failed_tests=["a"], failed_test_count=3)).endswith("\n3 tests failed: `a` … and 2 more")
    assert "failed:" not in section_text(why(failed_tests=[], failed_test_count=0)).split("```")[-1]


# -- escaping, colours, limits ---------------------------------------------------------------------


EVIL = "<!channel> <@U123> <https://evil|click> & ``` *bold*"


def test_log_text_is_escaped_and_cannot_close_the_code_block() -> None:
    found = why(context=[EVIL, f"ERROR {EVIL}", EVIL], error_start=1, error_end=2, failed_tests=[f"t`{EVIL}"])
    message = summary(failed_report(found))
    for text in [*mrkdwn_texts(message), *mrkdwn_texts(render_unfurl(failed_report(found), secret_key_regex=SECRET_KEY_REGEX))]:
        leftover = re.sub(r"<https://(?:app\.buddy\.works|github\.com)/[^<>|]*\|[^<>]*>|<!date\^\d+\^\{date_short\} \{time\}\|[^<>]*>", "", text)
        assert "<" not in leftover and ">" not in leftover, text
    text = message["blocks"][1]["text"]["text"]
    assert text.count("```") == 2  # only our own fences
    assert "&lt;!channel&gt; &lt;@U123&gt;" in text and "&amp;" in text
    assert "`t'&lt;!channel&gt;" in text  # a backtick inside a test name cannot end its inline code


def test_colours_and_control_characters_are_stripped() -> None:
    found = why(context=["\x1b[1;31mERROR\x1b[0m: build \x07broke\r", "progress 10%\rprogress 100%"], error_start=0, error_end=1,
                failed_tests=["\x1b[32mtest_a\x1b[0m"])
    for shown in (section_text(found), why_unfurl_line(found), "\n".join(why_plain_lines(found))):
        assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
        assert "ERROR: build broke" in shown
    assert code_lines(section_text(found))[1] == "  progress 100%"  # a redrawn line shows its last drawing
    assert section_text(found).endswith("`test_a`")


def test_huge_lines_and_a_huge_error_keep_every_limit() -> None:
    big = "&`🚀<" * 2_500_000  # 10 MB that escaping and the code block make longer
    found = why(context=[big] * 3 + [big] * 5000 + [big] * 3, error_start=3, error_end=5003,
                failed_tests=[big] * 1000, failed_test_count=10**9, line_number=10**12)
    text = section_text(found)
    block = text.split("```")[1]
    assert slack_len(block) <= CODE_CHARS
    assert "more error lines" in text
    message = summary(failed_report(found), interactive=True)
    total = sum(slack_len(t) for t in mrkdwn_texts(message))
    assert total < MAX_TOTAL_BLOCK_TEXT
    assert block_kit_violations(render_unfurl(failed_report(found), secret_key_regex=SECRET_KEY_REGEX), require_text=False) == []
    assert len(render_plain(failed_report(found), secret_key_regex=SECRET_KEY_REGEX)) < 100_000


def test_when_the_error_lines_do_not_fit_the_rest_are_counted() -> None:
    found = why(context=["before"] + [f"E {n} " + "x" * 300 for n in range(20)] + ["after"], error_start=1, error_end=21)
    lines = code_lines(section_text(found))
    marked = [line for line in lines if line.startswith("› E ")]
    assert 1 <= len(marked) < 20
    assert f"› …{20 - len(marked)} more error lines" in lines


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", [SECRET, "s3cr\x1b[0m3t-value"], ids=["as-is", "split-by-a-colour-code"])
def test_secret_values_are_scrubbed_from_the_why_everywhere(hidden: str) -> None:
    found = why(context=[f"token={hidden}", f"curl: 401 for {hidden}", "done"], error_start=1, error_end=2,
                failed_tests=[f"test_login[{hidden}]"])
    report = failed_report(found, passed_variables=[{"key": "API_TOKEN", "value": SECRET}])
    rendered = {
        "summary": json.dumps(render_summary(report, secret_key_regex=SECRET_KEY_REGEX, interactive=True, now=NOW), ensure_ascii=False),
        "unfurl": json.dumps(render_unfurl(report, secret_key_regex=SECRET_KEY_REGEX), ensure_ascii=False),
        "plain": render_plain(report, secret_key_regex=SECRET_KEY_REGEX, now=NOW),
    }
    for name, text in rendered.items():
        assert SECRET not in text, name
        assert f"401 for {MASK}" in text, name


# -- the preview and the terminal ------------------------------------------------------------------


def test_the_unfurl_gets_one_line_the_first_error() -> None:
    found = why(context=["context line", "ERROR first", "ERROR second", "after"], error_start=1, error_end=3,
                failed_tests=["test_a"], failed_test_count=1)
    [block] = render_unfurl(failed_report(found), secret_key_regex=SECRET_KEY_REGEX)["blocks"]
    lines = block["text"]["text"].split("\n")
    assert lines[-1] == "`ERROR first`"
    text = block["text"]["text"]
    assert "context line" not in text and "second" not in text and "test_a" not in text and "1,234" not in text
    without = render_unfurl(failed_report(None), secret_key_regex=SECRET_KEY_REGEX)["blocks"][0]["text"]["text"]
    assert text == without + "\n`ERROR first`"


def test_the_unfurl_line_is_cut_to_one_short_line() -> None:
    found = why(context=["E " + "word " * 1000 + "\nsecond part"], error_start=0, error_end=1)
    line = why_unfurl_line(found)
    assert "\n" not in line and line.startswith("`E word word") and line.endswith("…`") and slack_len(line) <= 202


def test_the_terminal_shows_the_section_marked_and_unescaped() -> None:
    found = why(context=["a < b", "E  boom & <bang>", "\tafter"], error_start=1, error_end=2,
                failed_tests=["t1", "t2"], failed_test_count=4, line_number=7)
    plain = render_plain(failed_report(found), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    start = plain.index("Why it failed")
    assert plain[start:].split("\n")[:5] == [
        "Why it failed (line 7 of the log):",
        "    a < b",
        "  › E  boom & <bang>",
        "        after",
        "  4 tests failed: t1, t2 … and 2 more",
    ]
    assert plain.index("Why it failed") < plain.index("Error:")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", plain)


# -- "I'm on it" -----------------------------------------------------------------------------------


def buttons(message: dict) -> dict[str, dict]:
    [row] = [block for block in message["blocks"] if block["type"] == "actions"]
    return {element["action_id"]: element for element in row["elements"]}


@pytest.mark.parametrize("status", ["FAILED", "TERMINATED"])
def test_a_failed_run_offers_im_on_it_with_the_runs_link(status: str) -> None:
    report = failed_report(why() if status == "FAILED" else None, status=status)
    shown = buttons(summary(report, interactive=True))
    claim = shown[CLAIM_ACTION]
    assert claim["text"]["text"] == "I'm on it"
    assert claim["value"] == shown["buddy_refresh"]["value"] == report.run_ref.web_url


def test_no_im_on_it_for_a_run_that_did_not_fail_or_a_message_without_listeners() -> None:
    assert CLAIM_ACTION not in buttons(summary(seed_report(), interactive=True))
    running = seed_report(action=action_execution(status="INPROGRESS", finish_date=None))
    assert CLAIM_ACTION not in buttons(summary(running, interactive=True))
    assert CLAIM_ACTION not in buttons(summary(failed_report(why()), interactive=False))


def test_a_pipeline_link_claims_the_very_run_it_shows() -> None:
    """Like Refresh, the claim names the execution found, not "the latest run of the pipeline"."""
    report = dataclasses.replace(failed_report(why()), ref=dataclasses.replace(SEED_REF, execution_id=None, action_execution_id=None))
    claim = buttons(summary(report, interactive=True))[CLAIM_ACTION]
    assert "/execution/" in claim["value"] and claim["value"] == report.run_ref.web_url
