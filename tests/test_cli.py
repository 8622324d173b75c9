"""The command line as a person runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy
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
    result = run_cli("show", "https://evil.example.com/acme/web/pipelines/pipeline/7", env=env, cwd=tmp_path)
    assert result.returncode == 1 and "no Buddy run" in result.stderr
    assert not fake_buddy.calls()


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
