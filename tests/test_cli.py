"""The command line as a person runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from tests.fakes.buddy import BASE_TIME, TOKEN, FakeAction, FakeBuddy
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "render" / "fixtures"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env={**base, **(env or {})},
                          cwd=cwd or ROOT, timeout=60)


def seed_file() -> Path:
    return next(SEED.glob("*seed*.json"))


def test_render_seed_example_offline():
    result = run_cli("render", str(seed_file()))
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    text = json.dumps(message)
    for expected in ("SUCCESSFUL", "Pass arguments", "Mike", "2025-05-28 09:51 UTC", "var = 123"):
        assert expected in text, expected


def test_render_errors_are_one_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    result = run_cli("render", str(broken))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert run_cli("render", str(tmp_path / "missing.json")).returncode == 1


def test_show_resolves_hex_id_and_prints_summary_and_log_tail(fake_buddy: FakeBuddy, tmp_path):
    action = FakeAction(name="Deploy app", log=[f"deploy step {i}" for i in range(100)])
    for _ in range(3):
        fake_buddy.add_execution()
    run = fake_buddy.add_execution(actions=[action])
    for _ in range(3):
        fake_buddy.add_execution()
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    result = run_cli("show", url, "--lines", "5", env={"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Deploy app" in result.stdout
    assert result.stdout.rstrip().splitlines()[-5:] == [f"deploy step {i}" for i in range(95, 100)]
    paths = [c.path for c in fake_buddy.calls()]
    assert any(p.endswith("/executions") for p in paths)
    assert any(p.endswith(f"/executions/{run.id}/action_executions/{action.ae_id}") for p in paths)


def test_show_json_prints_the_slack_message(fake_buddy: FakeBuddy, tmp_path):
    action = FakeAction()
    run = fake_buddy.add_execution(actions=[action])
    result = run_cli("show", "acme", "web", "7", str(run.id), action.ae_id, "--json",
                     env={"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert set(message) == {"text", "blocks"}


def test_show_failures_exit_1_with_one_line(fake_buddy: FakeBuddy, tmp_path):
    env = {"BUDDY_TOKEN": "wrong", "BUDDY_API_URL": fake_buddy.url}
    result = run_cli("show", "acme", "web", "7", "1", "abc", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "not valid" in result.stderr and "Traceback" not in result.stderr
    fake_buddy.reset_calls()
    result = run_cli("show", "https://app.buddy.works/security", env=env, cwd=tmp_path)
    assert result.returncode == 1 and "no Buddy run" in result.stderr
    assert not fake_buddy.calls()


def test_show_refuses_a_link_on_another_host_by_its_name(fake_buddy: FakeBuddy, tmp_path):
    env = {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url, "BUDDY_HOSTS": "buddy.corp.example"}
    result = run_cli("show", "https://evil.example.com/acme/web/pipelines/pipeline/7/execution/1", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: evil.example.com is not a Buddy host I answer for (see BUDDY_HOSTS)\n"
    assert not fake_buddy.calls()


def run_cli_on_a_terminal(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> tuple[int, str, str]:
    """The command with its stderr on a terminal (a pty), as at a shell; stdout piped. (status, stdout, terminal)"""
    leader, follower = pty.openpty()
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=follower, env={**base, **env}, cwd=cwd)
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the process closed its terminal
                break
            if not chunk:
                break
            seen += chunk
        stdout, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        proc.kill()
    return proc.returncode, stdout.decode(), seen.decode()


def test_show_on_a_terminal_says_it_is_asking_buddy_and_counts_the_retries(fake_buddy: FakeBuddy, tmp_path):
    run = fake_buddy.add_execution()
    fake_buddy.fault("/action_executions/", status=503)  # the details; the execution (asked at once) answers
    env = {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url, "BUDDY_RETRIES": "2", "BUDDY_RETRY_BACKOFF_S": "0.2"}
    ids = ("acme", "web", "7", str(run.id), run.actions[0].ae_id)
    status, stdout, terminal = run_cli_on_a_terminal("show", *ids, env=env, cwd=tmp_path)
    assert status == 1 and stdout == ""
    drawn = terminal.split("\r\x1b[K")  # each redraw wipes the line first
    assert drawn[1:4] == ["asking Buddy…", "asking Buddy… retry 1/2 (127.0.0.1 answered 503: fault 503)",
                          "asking Buddy… retry 2/2 (127.0.0.1 answered 503: fault 503)"]
    assert drawn[-1].startswith("error: Buddy is not answering right now") and drawn[-1].count("\n") == 1
    assert len(fake_buddy.calls("/action_executions/")) == 3
    # Off a terminal (a pipe, a log file), only the error line.
    result = run_cli("show", *ids, env=env, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error: Buddy is not answering") and result.stderr.count("\n") == 1


def test_show_says_who_terminated_a_run_and_when_and_its_progress(fake_buddy: FakeBuddy, tmp_path):
    stopped = FakeAction(status="TERMINATED", progress=42.7, terminator_id=9,
                         termination_date=BASE_TIME + timedelta(seconds=30))
    run = fake_buddy.add_execution(actions=[stopped], status="TERMINATED")
    fake_buddy.members[("acme", 9)] = "Tom Stopper"
    env = {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url}
    result = run_cli("show", "acme", "web", "7", str(run.id), stopped.ae_id, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "Status: 🚫 Terminated (TERMINATED)" in rows and "Progress: 42%" in rows
    assert "Terminated by: Tom Stopper" in rows and "Terminated at: 2025-05-28 09:52 UTC" in rows


def test_usage_and_missing_token_exit_2(tmp_path):
    assert run_cli("show", cwd=tmp_path).returncode == 2
    result = run_cli("show", "acme", "web", "7", "1", cwd=tmp_path)
    assert result.returncode == 2 and "BUDDY_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_doctor_checks_buddy_token_and_slack_scopes(fake_buddy: FakeBuddy, tmp_path):
    fake_buddy.token_info = {"name": "ci-bot", "expires_at": None, "scopes": ["WORKSPACE"]}
    with FakeSlack(scopes=["chat:write"]) as slack:
        env = {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url, "SLACK_BOT_TOKEN": "xoxb-1",
               "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.url}
        result = run_cli("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "lacks EXECUTION_INFO" in result.stdout
    assert "lacks scopes" in result.stdout and "files:write" in result.stdout
    fake_buddy.token_info["scopes"] = ["WORKSPACE", "EXECUTION_INFO"]
    with FakeSlack() as slack:
        env["SLACK_API_URL"] = slack.url
        result = run_cli("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout


def test_version_names_the_installed_distribution(tmp_path):
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"buddy-slack-bot {version('buddy-slack-bot')}"


def test_help_says_that_no_subcommand_runs_the_bot(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "With no subcommand, runs the bot: Socket Mode when SLACK_APP_TOKEN is set, else an HTTP server on PORT" in text
    assert "--version" in text and "doctor" in text
