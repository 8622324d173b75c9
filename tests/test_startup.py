"""Start-up with a wrong environment: ``python -m bot`` as a real process ends with exit status 2 and
one line on stderr that names the setting and says what to do; never a traceback, never a token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.config import Settings
from tests.fakes.bot_process import BOT_TOKEN, free_port
from tests.fakes.buddy import TOKEN as BUDDY_TOKEN
from tests.fakes.fixed_answer import HTML_PAGE, FixedAnswer
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSlackSocketMode
from tests.test_cli import run_cli

APP_TOKEN = "xapp-1-A0123-4567-StartupAppTokenSecret"
# Tests cannot reach DNS: ".invalid" never resolves, and a resolver that cannot be reached gives up at once.
UNRESOLVABLE = "https://no-such-host.invalid"
RESOLVER = {"RES_OPTIONS": "timeout:1 attempts:1"}
WANTED = {"SLACK_BOT_TOKEN": "takes the Bot User OAuth Token (xoxb-…)", "SLACK_APP_TOKEN": "takes an app-level token (xapp-…)"}


def start_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        "BUDDY_TOKEN": BUDDY_TOKEN,
        "BUDDY_API_URL": "http://127.0.0.1:9",  # never asked at start-up
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_RETRY_BACKOFF_S": "0.01",
        "STATE_DB": str(tmp_path / "state.db"),
        "PORT": str(free_port()),
        "BIND_HOST": "127.0.0.1",
    }
    return run_cli(env={**base, **env}, cwd=tmp_path)


def assert_one_line_error(result: subprocess.CompletedProcess, setting: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == 2, result.stderr
    [line] = lines
    assert line.startswith(f"error: {setting}: "), line
    return line


def test_an_unknown_log_level_is_named_with_the_levels_to_use(tmp_path):
    with FakeSlack() as slack:
        line = assert_one_line_error(start_bot(tmp_path, LOG_LEVEL="LOUD", SLACK_API_URL=slack.url), "LOG_LEVEL")
        assert not slack.calls()
    assert "'LOUD'" in line and "DEBUG, INFO, WARNING, ERROR, CRITICAL" in line


def test_a_log_level_in_lower_case_is_accepted():
    assert Settings(_env_file=None, log_level="debug").log_level == "DEBUG"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "said"),
    [
        (404, "text/plain", "404 page not found", "plain text (HTTP 404: “404 page not found”)"),
        (200, "text/html", HTML_PAGE, "an HTML page (HTTP 200)"),
        (502, "text/html", HTML_PAGE, "an HTML page (HTTP 502)"),
        (200, "application/json", "{not json", "a body that is not Slack's answer (HTTP 200, application/json)"),
        (200, "application/json", '{"data": []}', "a body that is not Slack's answer (HTTP 200, application/json)"),
        (200, "application/json", "[1, 2]", "a body that is not Slack's answer"),
    ],
    ids=["plain-text-404", "html-200", "html-502", "broken-json", "another-apis-json", "a-json-list"],
)
def test_an_answer_that_is_not_slacks_blames_slack_api_url_not_the_token(tmp_path, status, content_type, body, said):
    with FixedAnswer(status, content_type, body) as server:
        result = start_bot(tmp_path, SLACK_API_URL=f"{server.url}/api/")
        paths = server.paths()
    line = assert_one_line_error(result, "SLACK_API_URL")
    assert f"answered auth.test with {said}, not as Slack's API does" in line
    assert "check SLACK_API_URL" in line and "SLACK_BOT_TOKEN" not in line
    assert paths and set(paths) == {"/api/auth.test"}
    if status >= 500:
        assert "try again in a minute" in line


def test_a_token_slack_refuses_is_blamed_on_slack_bot_token(tmp_path):
    with FakeSlack(tokens={"xoxb-another-token"}) as slack:
        line = assert_one_line_error(start_bot(tmp_path, SLACK_API_URL=slack.url), "SLACK_BOT_TOKEN")
    assert "Slack refused the token (invalid_auth)" in line and "OAuth & Permissions" in line
    assert BOT_TOKEN not in line


def test_a_slack_host_name_that_does_not_resolve_is_said_to_be_dns(tmp_path):
    line = assert_one_line_error(start_bot(tmp_path, SLACK_API_URL=f"{UNRESOLVABLE}/api/", **RESOLVER), "SLACK_API_URL")
    assert "no-such-host.invalid does not resolve (DNS)" in line


def test_nothing_listening_at_slack_api_url_is_said(tmp_path):
    line = assert_one_line_error(start_bot(tmp_path, SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/"), "SLACK_API_URL")
    assert "cannot connect to 127.0.0.1:" in line and "ConnectionRefusedError" in line


@pytest.mark.parametrize(
    ("setting", "token", "said"),
    [
        ("SLACK_BOT_TOKEN", APP_TOKEN, "looks like an app-level token (xapp-…)"),
        ("SLACK_BOT_TOKEN", "xoxp-1111-2222-StartupUserTokenSecret", "looks like a user token (xoxp-…)"),
        ("SLACK_BOT_TOKEN", "StartupNotATokenSecret", "does not look like a Slack token"),
        ("SLACK_APP_TOKEN", "xoxb-1111-2222-StartupBotTokenSecret", "looks like a bot token (xoxb-…)"),
    ],
    ids=["app-token-as-bot-token", "user-token-as-bot-token", "no-token", "bot-token-as-app-token"],
)
def test_a_token_of_the_wrong_shape_says_which_kind_it_is_without_echoing_it(tmp_path, setting, token, said):
    with FakeSlack() as slack:
        result = start_bot(tmp_path, SLACK_API_URL=slack.url, **{setting: token})
        assert not slack.calls()  # refused before anything is sent
    line = assert_one_line_error(result, setting)
    assert said in line and WANTED[setting] in line
    assert token not in result.stderr + result.stdout


def test_the_tokens_the_tests_use_have_the_right_shape():
    settings = Settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_app_token="xapp-1-test")
    assert (settings.slack_bot_token, settings.slack_app_token) == (BOT_TOKEN, "xapp-1-test")


def test_socket_mode_with_an_app_token_slack_refuses_is_blamed_on_slack_app_token(tmp_path):
    with FakeSlackSocketMode() as slack:
        slack.fail("apps.connections.open", "invalid_auth")
        result = start_bot(tmp_path, SLACK_API_URL=slack.url, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
        [call] = slack.calls("apps.connections.open")
    line = assert_one_line_error(result, "SLACK_APP_TOKEN")
    assert "Slack refused the token (invalid_auth)" in line and "connections:write" in line
    assert call.headers["authorization"] == f"Bearer {APP_TOKEN}" and APP_TOKEN not in line


def test_a_state_directory_that_cannot_be_written_is_one_line_naming_state_db(tmp_path):
    from tests.work.test_store_faults_e2e import tmpfs

    with tmpfs(tmp_path / "ro") as directory:
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        with FakeSlack() as slack:
            result = start_bot(tmp_path, STATE_DB=str(directory / "bot-state.db"), SLACK_API_URL=slack.url)
    line = assert_one_line_error(result, "STATE_DB")
    assert "cannot write" in line and "Read-only file system" in line


def test_a_corrupt_state_file_is_one_line_naming_state_db(tmp_path):
    corrupt = tmp_path / "bot-state.db"
    corrupt.write_bytes(b"SQLite format 3\0" + b"\xff" * 8192)
    with FakeSlack() as slack:
        line = assert_one_line_error(start_bot(tmp_path, STATE_DB=str(corrupt), SLACK_API_URL=slack.url), "STATE_DB")
    assert "not a SQLite database" in line or "cannot use" in line


def test_both_database_settings_are_one_line_naming_both(tmp_path):
    with FakeSlack() as slack:
        result = start_bot(tmp_path, DATABASE_URL="postgresql://u@127.0.0.1:9/db", SLACK_API_URL=slack.url)
    line = assert_one_line_error(result, "DATABASE_URL and STATE_DB")
    assert "STATE_DB" in line
