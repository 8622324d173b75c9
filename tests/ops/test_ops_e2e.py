"""The running bot's own endpoints: /health, /ready and /metrics, in HTTP mode and in Socket Mode
(where the HTTP server runs too, without /slack/events)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.signing import slash_command_body
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSlackSocketMode

METRICS_TOKEN = "metrics-token-for-the-test-1234567890"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_metrics_count_what_the_bot_did_and_ask_for_the_token(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    action = FakeAction(name="Build", log=["ok"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env={"METRICS_TOKEN": METRICS_TOKEN}).start()
    try:
        assert get(f"{bot.url}/ready") == (200, json.dumps({"ready": True}))
        assert bot.command(url, response_url=fake_slack.response_url())[0] == 200
        fake_slack.wait_for("files.completeUploadExternal", timeout=15)
        status, _ = get(f"{bot.url}/metrics")
        assert status == 401  # a token is set: loopback alone is not enough
        status, page = get(f"{bot.url}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200
        assert 'buddy_bot_slack_requests_total{kind="command",outcome="2xx"} 1.0' in page
        assert 'endpoint="/workspaces/:id/projects/:id/pipelines/:id/executions/:id/action_executions/:id"' in page
        assert "buddy_bot_ack_seconds_bucket" in page and "buddy_bot_work_units" in page
        assert run.web_id not in page and METRICS_TOKEN not in page  # templates, never ids or secrets
    finally:
        bot.stop()


def test_socket_mode_serves_health_ready_and_metrics_but_not_slack_events(tmp_path, fake_buddy: FakeBuddy):
    with FakeSlackSocketMode() as slack:
        bot = BotProcess(tmp_path, slack_url=slack.url, buddy_url=fake_buddy.url,
                         env={"SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": ""})
        bot.start(ready=lambda: bool(slack._sockets) and bot.healthy())
        try:
            assert get(f"{bot.url}/health")[0] == 200 and get(f"{bot.url}/ready")[0] == 200
            assert get(f"{bot.url}/metrics")[0] == 200  # from 127.0.0.1, without a token
            body = slash_command_body("help", response_url=slack.response_url())
            request = urllib.request.Request(f"{bot.url}/slack/events", data=body.encode(), method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
                raise AssertionError("/slack/events answered in Socket Mode")
            except urllib.error.HTTPError as refused:
                assert refused.code in (404, 405)
        finally:
            bot.stop()
