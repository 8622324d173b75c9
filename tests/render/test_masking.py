"""Secret variable values never reach Slack or the terminal."""

from __future__ import annotations

import json
import re

import pytest

from bot.render import render_plain, render_summary
from bot.render.facts import MASK
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
