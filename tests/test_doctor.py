"""``python -m bot doctor`` as a person runs it: a real process against the fake Buddy and Slack, one
line per finding, exit status 1 when any is a problem; and an installed bot (not editable) finds its
manifest."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.slack.manifest import MANIFEST
from tests.fakes.bot_process import BOT_TOKEN, BotProcess, free_port
from tests.fakes.buddy import TOKEN, FakeBuddy
from tests.fakes.fixed_answer import HTML_PAGE, FixedAnswer
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSlackSocketMode
from tests.test_cli import ROOT, run_cli
from tests.test_startup import APP_TOKEN, RESOLVER, UNRESOLVABLE


def doctor(fake_buddy: FakeBuddy, slack_url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        "BUDDY_TOKEN": TOKEN,
        "BUDDY_API_URL": fake_buddy.url,
        "BUDDY_RETRY_BACKOFF_S": "0.01",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": slack_url,
        "SLACK_RETRY_BACKOFF_S": "0.01",
    }
    result = run_cli("doctor", env={**base, **env}, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def findings(result: subprocess.CompletedProcess, status: str, area: str) -> list[str]:
    """The texts of the findings with that status in that area."""
    prefix = f"{status:<7} {area}: "
    return [line.removeprefix(prefix) for line in result.stdout.splitlines() if line.startswith(prefix)]


def test_a_whole_set_up_passes_every_check_and_public_url_reaches_the_bots_health(fake_buddy, fake_slack, tmp_path):
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url).start()
    try:
        result = doctor(fake_buddy, fake_slack.url, tmp_path, PUBLIC_URL=bot.url)
    finally:
        bot.stop()
    assert result.returncode == 0, result.stdout
    assert findings(result, "ok", "public url") == [f"{bot.url}/health reaches the bot"]
    assert "SLACK_SIGNING_SECRET is set (Slack's requests are checked with it)" in findings(result, "ok", "slack")
    assert findings(result, "skip", "slack") == ["SLACK_APP_TOKEN is not set: the bot runs in HTTP mode"]
    assert result.stdout.rstrip().endswith("all checks passed")


def test_installed_through_slacks_oauth_there_is_no_single_bot_token_to_check(fake_buddy, fake_slack, tmp_path):
    result = doctor(fake_buddy, fake_slack.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="1.2", SLACK_CLIENT_SECRET="s")
    assert result.returncode == 0, result.stdout
    assert findings(result, "skip", "slack") == [
        "installed through Slack's OAuth (SLACK_CLIENT_ID): no single bot token to check"]


def test_without_public_url_its_check_is_skipped(fake_buddy, fake_slack, tmp_path):
    result = doctor(fake_buddy, fake_slack.url, tmp_path)
    assert result.returncode == 0, result.stdout
    assert findings(result, "skip", "public url") == ["PUBLIC_URL is not set"]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (None, "nothing answers at {url}/health (ConnectionRefusedError)"),
        ((200, "text/html", HTML_PAGE, {}), "{url}/health answered HTTP 200 but not as the bot's /health does"),
        ((404, "text/plain", "404 page not found", {}), "{url}/health answered HTTP 404 but not as the bot's /health does"),
        ((301, "text/html", "", {"Location": "https://bot.example.com/health"}), "redirects to https://bot.example.com/health"),
    ],
    ids=["nothing-listening", "html-page", "plain-404", "redirect"],
)
def test_a_public_url_that_does_not_reach_the_bot_is_a_problem(fake_buddy, fake_slack, tmp_path, answer, said):
    if answer is None:
        url = f"http://127.0.0.1:{free_port()}"
        result = doctor(fake_buddy, fake_slack.url, tmp_path, PUBLIC_URL=url)
    else:
        with FixedAnswer(*answer) as server:
            url = server.url
            result = doctor(fake_buddy, fake_slack.url, tmp_path, PUBLIC_URL=url)
            assert server.paths() == ["/health"]
    assert result.returncode == 1
    [problem] = findings(result, "PROBLEM", "public url")
    assert problem.startswith("PUBLIC_URL: ") and said.format(url=url) in problem


def test_a_public_url_whose_name_does_not_resolve_is_said_to_be_dns(fake_buddy, fake_slack, tmp_path):
    result = doctor(fake_buddy, fake_slack.url, tmp_path, PUBLIC_URL=UNRESOLVABLE, **RESOLVER)
    assert result.returncode == 1
    [problem] = findings(result, "PROBLEM", "public url")
    assert "the host name no-such-host.invalid does not resolve (DNS" in problem and "PUBLIC_URL" in problem


def test_a_buddy_host_name_that_does_not_resolve_is_told_apart_from_buddy_being_down(fake_buddy, fake_slack, tmp_path):
    unresolved = doctor(fake_buddy, fake_slack.url, tmp_path, BUDDY_API_URL=UNRESOLVABLE, **RESOLVER)
    assert unresolved.returncode == 1
    [dns] = findings(unresolved, "PROBLEM", "buddy app.buddy.works")
    assert "the host name no-such-host.invalid does not resolve (DNS" in dns and "check BUDDY_API_URL" in dns
    assert "Buddy itself may well be up" in dns and "not answering" not in dns

    fake_buddy.fault("/user/token", 503)
    down = doctor(fake_buddy, fake_slack.url, tmp_path)
    assert down.returncode == 1
    [unavailable] = findings(down, "PROBLEM", "buddy app.buddy.works")
    assert "Buddy is not answering right now" in unavailable and "DNS" not in unavailable
    assert len(fake_buddy.calls("/user/token")) == 4  # BUDDY_RETRIES (3) retries, then said


def test_the_signing_secret_is_required_in_http_mode_and_not_in_socket_mode(fake_buddy, tmp_path):
    with FakeSlackSocketMode() as slack:
        http = doctor(fake_buddy, slack.url, tmp_path, SLACK_SIGNING_SECRET="")
        socket = doctor(fake_buddy, slack.url, tmp_path, SLACK_SIGNING_SECRET="", SLACK_APP_TOKEN=APP_TOKEN)
    assert http.returncode == 1
    [problem] = findings(http, "PROBLEM", "slack")
    assert problem.startswith("SLACK_SIGNING_SECRET is not set (HTTP mode needs it)") and "App Credentials" in problem
    assert socket.returncode == 0, socket.stdout
    assert "SLACK_SIGNING_SECRET is not used in Socket Mode" in findings(socket, "skip", "slack")


def test_the_app_token_is_checked_with_apps_connections_open(fake_buddy, tmp_path):
    with FakeSlackSocketMode() as slack:
        accepted = doctor(fake_buddy, slack.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
        [call] = slack.calls("apps.connections.open")
        slack.fail("apps.connections.open", "invalid_auth")
        refused = doctor(fake_buddy, slack.url, tmp_path, SLACK_APP_TOKEN=APP_TOKEN)
    assert call.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert accepted.returncode == 0, accepted.stdout
    assert "SLACK_APP_TOKEN opens a Socket Mode connection (apps.connections.open)" in findings(accepted, "ok", "slack")
    assert refused.returncode == 1
    [problem] = findings(refused, "PROBLEM", "slack")
    assert problem.startswith("SLACK_APP_TOKEN: Slack refused the token (invalid_auth)") and "connections:write" in problem
    assert APP_TOKEN not in refused.stdout + refused.stderr


def test_an_html_page_from_slack_api_url_is_blamed_on_the_url_not_the_token(fake_buddy, tmp_path):
    with FixedAnswer(200, "text/html", HTML_PAGE) as server:
        result = doctor(fake_buddy, f"{server.url}/api/", tmp_path)
    assert result.returncode == 1
    [problem] = findings(result, "PROBLEM", "slack")
    assert problem.startswith("SLACK_API_URL: ") and "answered auth.test with an HTML page (HTTP 200)" in problem
    assert "SLACK_BOT_TOKEN" not in problem


def test_the_packaged_manifest_is_the_repositorys_manifest():
    """People edit and paste the repository's manifest.yml; the package carries a copy of it."""
    assert MANIFEST == ROOT / "bot" / "manifest.yml"
    assert MANIFEST.read_bytes() == (ROOT / "manifest.yml").read_bytes(), "run: cp manifest.yml bot/manifest.yml"


def test_an_installed_bot_not_editable_finds_its_manifest(fake_buddy, tmp_path):
    source, target, workdir = tmp_path / "source", tmp_path / "installed", tmp_path / "elsewhere"
    shutil.copytree(ROOT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    workdir.mkdir()
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), "."]
    built = subprocess.run(install, cwd=source, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    # Only the installed copy is importable: no checkout on the path, run from an empty directory.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import bot; print(bot.__file__)"], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(target / "bot" / "__init__.py"), where.stderr
    version = subprocess.run([sys.executable, "-m", "bot", "--version"], cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=60)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version.stdout.strip() == f"{project['name']} {project['version']}", version.stderr
    with FakeSlack() as slack:
        env |= {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url, "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": "test-signing-secret", "SLACK_API_URL": slack.url}
        result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=workdir, env=env, capture_output=True, text=True,
                                timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout
    assert "all scopes of manifest.yml are granted" in findings(result, "ok", "slack")


def test_the_state_store_is_checked_on_either_engine(fake_buddy, fake_slack, tmp_path, postgres):
    sqlite = doctor(fake_buddy, fake_slack.url, tmp_path, STATE_DB=str(tmp_path / "state.db"))
    assert findings(sqlite, "ok", "state") == [f"SQLite at {tmp_path / 'state.db'} opens and takes writes"]
    database = postgres.new_database()
    on_postgres = doctor(fake_buddy, fake_slack.url, tmp_path, DATABASE_URL=database)
    [said] = findings(on_postgres, "ok", "state")
    assert said.startswith("PostgreSQL at 127.0.0.1:") and said.endswith("opens and takes writes")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all" * 100)
    refused = doctor(fake_buddy, fake_slack.url, tmp_path, STATE_DB=str(corrupt))
    [problem] = findings(refused, "PROBLEM", "state")
    assert problem.startswith("STATE_DB:") and "not a SQLite database" in problem and refused.returncode == 1
