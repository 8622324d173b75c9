"""Which mode the bot starts in: SLACK_CLIENT_ID / SLACK_CLIENT_SECRET install through Slack's OAuth,
SLACK_BOT_TOKEN serves one workspace, and both at once (or OAuth without what it needs) end at start
with exit status 2 and one line naming the settings."""

from __future__ import annotations

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
from tests.slack.install.flow import ENCRYPTION_KEY
from tests.test_startup import start_bot

OAUTH = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
         "PUBLIC_URL": "https://bot.example.com"}


def one_line(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert CLIENT_SECRET not in line and ENCRYPTION_KEY not in line
    return line


def test_client_settings_with_a_bot_token_exit_2_naming_all_three(tmp_path):
    with FakeSlack() as slack:
        line = one_line(start_bot(tmp_path, SLACK_API_URL=slack.url, **OAUTH))  # start_bot sets SLACK_BOT_TOKEN
        assert not slack.calls()
    assert line.startswith("error: SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_BOT_TOKEN are set together: ")
    assert "unset SLACK_BOT_TOKEN" in line and "unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in line


def test_one_client_setting_with_a_bot_token_is_named_too(tmp_path):
    line = one_line(start_bot(tmp_path, SLACK_CLIENT_ID=CLIENT_ID))
    assert line.startswith("error: SLACK_CLIENT_ID and SLACK_BOT_TOKEN are set together: ")


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("TOKEN_ENCRYPTION_KEY", "TOKEN_ENCRYPTION_KEY not set"),
        ("PUBLIC_URL", "PUBLIC_URL not set"),
        ("SLACK_CLIENT_SECRET", "SLACK_CLIENT_SECRET not set"),
    ],
)
def test_oauth_mode_without_what_it_needs_refuses_to_start_naming_it(tmp_path, unset, named):
    line = one_line(start_bot(tmp_path, SLACK_BOT_TOKEN="", **{**OAUTH, unset: ""}))
    assert line.startswith(f"error: {named}: installing through Slack's OAuth needs it; ")
    assert "Installing into several workspaces" in line
