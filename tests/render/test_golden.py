"""The seed example (Buddy's own doc response) and a failed execution (its overview, why it failed),
rendered exactly."""

from __future__ import annotations

import dataclasses

from bot.buddy.models import ActionExecution
from bot.render import (
    block_kit_violations,
    inline_log_block,
    log_tail_title,
    render_log_tail,
    render_plain,
    render_summary,
    render_unfurl,
)
from bot.report import RunReport
from bot.why.model import Why
from tests.render.helpers import NOW, SECRET_KEY_REGEX, SEED_REF, action_execution, check_golden, seed_report


def test_seed_summary_matches_golden() -> None:
    message = render_summary(
        seed_report(), secret_key_regex=SECRET_KEY_REGEX, requested_by="U123ABC", interactive=True, now=NOW
    )
    assert block_kit_violations(message) == []
    check_golden("seed_summary.json", message)


def test_seed_summary_shows_the_issue_minimum() -> None:
    message = render_summary(seed_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    everything = message["text"] + str(message["blocks"])
    assert message["text"] == "✅ SUCCESSFUL · Pass arguments · company-website/2"
    assert message["blocks"][0]["text"]["text"] == ":white_check_mark: Successful · Pass arguments"
    assert "*Approved by*\\nMike" in everything
    assert "*Approved at*\\n<!date^1748425898^{date_short} {time}|2025-05-28 09:51 UTC>" in everything
    assert "var = 123" in everything
    assert "*Duration*\\n47 ms" in everything


def test_seed_unfurl_matches_golden() -> None:
    unfurl = render_unfurl(seed_report(), secret_key_regex=SECRET_KEY_REGEX)
    assert block_kit_violations(unfurl, require_text=False) == []
    check_golden("seed_unfurl.json", unfurl)


def test_seed_plain_matches_golden() -> None:
    check_golden("seed_plain.txt", render_plain(seed_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW))


def test_seed_log_tail() -> None:
    report = seed_report()
    assert render_log_tail(report) == "Done"
    assert log_tail_title(report) == "Last 1 of 1 log line · Pass arguments"
    check_golden("seed_inline_log.json", inline_log_block(render_log_tail(report)))


def _action(name: str, status: str, start: str, finish: str | None) -> ActionExecution:
    return action_execution(
        action={"name": name, "type": "BUILD"},
        status=status,
        start_date=start,
        finish_date=finish,
        passed_variables=[],
        outputted_variables=[],
        approval_date=None,
        approver_id=None,
    )


# What the finder reports for the failed action below: two error lines, at lines 97-98 of its log.
FAILED_WHY = Why(
    line_number=97,
    context=[
        "    def test_vat():",
        '        price = Price(100, country="DE")',
        ">       assert price.gross == 119",
        "E       assert 120 == 119",
        "E        +  where 120 = <Price 100 DE>.gross",
        "",
        "tests/test_pricing.py:42: AssertionError",
        "=========================== short test summary info ============================",
    ],
    error_start=3,
    error_end=5,
    tool="pytest",
    rule="assertion",
    failed_tests=["tests/test_pricing.py::test_vat", "tests/test_pricing.py::test_rounding", "tests/test_cart.py::test_total"],
    failed_test_count=3,
)


def failed_execution_report() -> RunReport:
    """A link to a whole execution whose tests failed: the failed action is shown, with all actions listed."""
    actions = [
        _action("Build", "SUCCESSFUL", "2025-05-28T09:50:00Z", "2025-05-28T09:51:05Z"),
        _action("Run tests", "FAILED", "2025-05-28T09:51:05Z", "2025-05-28T09:53:35Z"),
        _action("Deploy to production", "NOT_EXECUTED", None, None),
    ]
    failed = actions[1].model_copy(
        update={"error_message": "Tests failed: 3 of 120", "log": ["FAIL test_pricing", "3 failed"]}
    )
    return seed_report(
        ref=dataclasses.replace(SEED_REF, action_execution_id=None),
        action=failed,
        approver_name=None,
        actions=actions,
        log_tail=list(failed.log),
        log_total_lines=120,
        why=FAILED_WHY,
    )


def test_execution_overview_matches_golden() -> None:
    """The failed action is shown, why it failed first, with all actions listed, and "I'm on it"."""
    message = render_summary(failed_execution_report(), secret_key_regex=SECRET_KEY_REGEX, interactive=True, now=NOW)
    assert block_kit_violations(message) == []
    overview = next(block for block in message["blocks"] if block.get("text", {}).get("text", "").startswith("*Actions"))
    assert "*Run tests* · 2 min 30 s  ← failed" in overview["text"]["text"]
    assert message["blocks"][1]["text"]["text"].startswith("*Why it failed* · lines 97–98 of the log\n```")
    check_golden("execution_summary.json", message)


def test_failed_execution_unfurl_matches_golden() -> None:
    """The preview adds one line, the first error, and nothing else of the log."""
    unfurl = render_unfurl(failed_execution_report(), secret_key_regex=SECRET_KEY_REGEX)
    assert block_kit_violations(unfurl, require_text=False) == []
    check_golden("failed_unfurl.json", unfurl)


def test_failed_execution_plain_matches_golden() -> None:
    check_golden("failed_plain.txt", render_plain(failed_execution_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW))
