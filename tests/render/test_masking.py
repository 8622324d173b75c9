"""Secret variable values never reach Slack or the terminal."""

from __future__ import annotations

import json
import re

import pytest

from bot.render import inline_log_block, render_log_tail, render_plain, render_summary, render_unfurl
from bot.render.facts import MASK
from bot.render.logtail import _LINE_WINDOW, CUT_MARK, MAX_LINE_CHARS, clean_log_line, render_log_tail_and_title
from bot.render.notice import render_notice
from bot.render.summary import ERROR_CHARS
from tests.render.helpers import NOW, SECRET_KEY_REGEX, action_execution, seed_report

SECRET = "s3cr3t-value"


def _render_all(variable: dict) -> str:
    action = action_execution(passed_variables=[variable], outputted_variables=[variable])
    report = seed_report(action=action)
    summary = render_summary(report, secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    return json.dumps(summary, ensure_ascii=False) + render_plain(report, secret_key_regex=SECRET_KEY_REGEX)


@pytest.mark.parametrize(
    "variable",
    [
        {"key": "DEPLOY_TARGET", "value": SECRET, "encrypted": True},
        {"key": "DEPLOY_TARGET", "value": SECRET, "secret": True},
        {"key": "DEPLOY_TARGET", "value": SECRET, "type": "SSH_KEY"},
        {"key": "API_TOKEN", "value": SECRET},
        {"key": "db_password", "value": SECRET},
        {"key": "aws-Secret-Access", "value": SECRET},
    ],
)
def test_secret_values_are_masked(variable: dict) -> None:
    rendered = _render_all(variable)
    assert SECRET not in rendered
    assert f"{variable['key']} = {MASK}" in rendered


def test_a_plain_variable_is_shown() -> None:
    assert "VERSION = 1.2.3" in _render_all({"key": "VERSION", "value": "1.2.3"})


def test_configured_patterns_decide() -> None:
    action = action_execution(passed_variables=[{"key": "API_TOKEN", "value": SECRET}])
    only_password = re.compile("PASSWORD")
    summary = render_summary(seed_report(action=action), secret_key_regex=only_password, now=NOW)
    assert f"API_TOKEN = {SECRET}" in json.dumps(summary)


def test_a_key_too_long_to_check_is_masked() -> None:
    assert SECRET not in _render_all({"key": "K" * 5000, "value": SECRET})


# -- secret values wherever else they turn up: log lines, the error, notes, notices, unfurls ------

DB_PASSWORD = "db-pw-<&>-Kq81Zx"  # characters that escaping changes
TOKEN_VALUE = "tok-9f8e7d6c5b4a"
CERT = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"
SHORT = "1234"


def _leaky_report(**changes):
    variables = [
        {"key": "DB_PASSWORD", "value": DB_PASSWORD},
        {"key": "DEPLOY_TARGET", "value": TOKEN_VALUE, "encrypted": True},
        {"key": "SIGNING_CERT", "value": CERT, "type": "SSH_KEY"},
        {"key": "PIN", "value": SHORT, "secret": True},
    ]
    action = action_execution(
        passed_variables=variables,
        error_message=f"mysql: access denied for password '{DB_PASSWORD}'",
        **changes.pop("action", {}),
    )
    log = [
        f"connecting with {DB_PASSWORD}",
        f"token=\x1b[1m{TOKEN_VALUE[:6]}\x1b[0m{TOKEN_VALUE[6:]}",  # a colour code inside the value
        *CERT.splitlines(),
        f"pin {SHORT} accepted",
    ]
    return seed_report(action=action, actions=[action], log_tail=log, log_total_lines=len(log),
                       notes=[f"execution details unavailable: {TOKEN_VALUE}"], **changes)


def _hidden(text: str) -> bool:
    escaped = DB_PASSWORD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    pieces = [DB_PASSWORD, escaped, TOKEN_VALUE, "MIIEvQIBADANBgkqhkiG9w0B", "AQEFAASCBKcwggSjAgEAAoIB"]
    return not any(piece in text for piece in pieces)


def test_secret_values_are_masked_in_the_log_tail_inline_log_error_and_notes() -> None:
    report = _leaky_report()
    summary = json.dumps(render_summary(report, secret_key_regex=SECRET_KEY_REGEX, now=NOW), ensure_ascii=False)
    snippet, title = render_log_tail_and_title(report, secret_key_regex=SECRET_KEY_REGEX)
    inline = json.dumps(inline_log_block(snippet), ensure_ascii=False)
    for rendered in (summary, snippet, title, inline):
        assert _hidden(rendered), rendered
    assert f"access denied for password '{MASK}'" in summary and f"unavailable: {MASK}" in summary
    assert snippet.splitlines()[:6] == [f"connecting with {MASK}", f"token={MASK}", *[MASK] * 4]  # the key, line by line
    # A value too short to be told from ordinary text stays in the log, and is masked as a variable.
    assert f"pin {SHORT} accepted" in snippet and f"PIN = {MASK}" in summary


def test_the_log_tail_alone_masks_the_values_buddy_marks_and_with_the_patterns_the_rest() -> None:
    report = _leaky_report()
    marked_only = render_log_tail(report)
    assert TOKEN_VALUE not in marked_only and "MIIEvQIBADANBgkqhkiG9w0B" not in marked_only
    assert DB_PASSWORD in marked_only  # only the operator's patterns say DB_PASSWORD is secret
    assert DB_PASSWORD not in render_log_tail(report, secret_key_regex=SECRET_KEY_REGEX)


def test_a_secret_met_once_is_masked_in_later_notices_unfurls_and_other_runs() -> None:
    render_summary(_leaky_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    notice = json.dumps(render_notice(f"Buddy says: no access with {DB_PASSWORD} (token {TOKEN_VALUE})"), ensure_ascii=False)
    assert _hidden(notice) and f"no access with {MASK} (token {MASK})" in notice
    other = seed_report(action=action_execution(action={"name": f"Deploy {TOKEN_VALUE}"}), log_tail=[f"echo {DB_PASSWORD}"])
    unfurl = json.dumps(render_unfurl(other, secret_key_regex=SECRET_KEY_REGEX), ensure_ascii=False)
    assert _hidden(unfurl) and f"Deploy {MASK}" in unfurl
    assert render_log_tail(other) == f"echo {MASK}"


def test_no_cut_leaves_the_start_of_a_secret() -> None:
    render_summary(_leaky_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    # A line cut just inside the value; and one whose window ends inside it, colour codes taking the room.
    straddling = "a" * (MAX_LINE_CHARS - 12) + TOKEN_VALUE + " and more"
    codes = "\x1b[0m" * ((_LINE_WINDOW - 1900) // 4)
    window_end = codes + "b" * (_LINE_WINDOW - len(codes) - 10) + TOKEN_VALUE  # the window ends 10 characters in
    for line in (straddling, window_end):
        shown = clean_log_line(line)
        assert TOKEN_VALUE[:8] not in shown and shown.endswith(CUT_MARK)
    # An error whose cleaned window ends inside a value.
    error = "\x00" * (4 * ERROR_CHARS) + "e" * 50 + TOKEN_VALUE
    action = action_execution(error_message=error)
    summary = json.dumps(render_summary(seed_report(action=action), secret_key_regex=SECRET_KEY_REGEX, now=NOW))
    assert "e" * 50 in summary and TOKEN_VALUE[:8] not in summary


def test_a_secret_equal_to_a_name_is_masked_in_text_and_leaves_the_buttons_working() -> None:
    action = action_execution(passed_variables=[{"key": "DEPLOY_KEY", "value": "company-website"}])
    summary = render_summary(seed_report(action=action), secret_key_regex=SECRET_KEY_REGEX, now=NOW, interactive=True)
    [buttons] = [block for block in summary["blocks"] if block["type"] == "actions"]
    targets = [element.get("url") or element.get("value") for element in buttons["elements"]]
    assert len(targets) >= 2 and all("/company-website/pipelines/" in target for target in targets)
    assert "company-website" not in summary["text"] and "company-website" not in json.dumps(summary["blocks"][-2])
