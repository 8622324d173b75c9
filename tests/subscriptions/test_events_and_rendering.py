"""Webhook deliveries in the documented shape (and its variants) become the same RunEvent as a polled
run; the announcement shows what a channel needs and keeps Block Kit's limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bot.buddy.models import Execution
from bot.render.announcement import render_announcement
from bot.render.limits import block_kit_violations
from bot.subscriptions.events import parse_webhook, polled_event
from bot.subscriptions.router import Change
from bot.subscriptions.store import PipelineKey
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.buddy_webhooks import execution_payload, push_payload

NOW = datetime.now(timezone.utc)
PIPELINE = PipelineKey("app.buddy.works", "acme", "web", 7)


def failed_run(fake: FakeBuddy, *, log_lines: int = 3):
    action = FakeAction(name="Unit tests", status="FAILED", log=[f"line {i}" for i in range(log_lines)])
    return fake.add_execution(actions=[FakeAction(), action], status="FAILED", branch="main",
                              start=NOW, finish=NOW + timedelta(minutes=3, seconds=7))


def test_webhook_and_polled_execution_give_the_same_identity(fake_buddy):
    run = failed_run(fake_buddy)
    pushed = parse_webhook(json.dumps(execution_payload(fake_buddy, run)).encode())
    listed = fake_buddy._execution("acme", "web", 7, run, with_actions=False)
    pulled = polled_event(PIPELINE, Execution.model_validate(listed))
    assert pushed is not None and pulled is not None
    assert pushed.run_url == pulled.run_url == fake_buddy.html_url("acme", "web", 7, run)
    assert (pushed.pipeline, pushed.status, pushed.branch, pushed.run_order) == (PIPELINE, "FAILED", "main", run.id)
    assert pushed.finished and pulled.finished
    assert pushed.ref.execution_id == str(run.id)  # looked up by number: no scan of the list


def test_webhook_with_branch_as_plain_string_and_a_start_event(fake_buddy):
    run = fake_buddy.add_execution(status="INPROGRESS", start=NOW, finish=None, branch="release/1.2")
    pushed = parse_webhook(json.dumps(execution_payload(fake_buddy, run, branch_as_string=True)).encode())
    assert pushed is not None and pushed.branch == "release/1.2" and not pushed.finished


def test_webhook_with_megabytes_of_inline_logs_keeps_none_of_them(fake_buddy):
    run = failed_run(fake_buddy, log_lines=200_000)
    body = json.dumps(execution_payload(fake_buddy, run)).encode()
    assert len(body) > 2_000_000
    pushed = parse_webhook(body)
    assert pushed is not None and pushed.status == "FAILED"
    assert all(action.log is None for action in pushed.execution.action_executions)


def test_push_events_junk_and_foreign_hosts_are_ignored(fake_buddy):
    assert parse_webhook(json.dumps(push_payload()).encode()) is None
    assert parse_webhook(b"not json") is None
    assert parse_webhook(b"[1, 2]") is None
    run = failed_run(fake_buddy)
    payload = execution_payload(fake_buddy, run)
    payload["execution"]["html_url"] = payload["execution"]["html_url"].replace("app.buddy.works", "evil.example.com")
    assert parse_webhook(json.dumps(payload).encode()) is None


def test_polled_run_of_another_pipeline_is_refused(fake_buddy):
    run = failed_run(fake_buddy)
    listed = Execution.model_validate(fake_buddy._execution("acme", "web", 7, run))
    assert polled_event(PipelineKey("app.buddy.works", "acme", "web", 8), listed) is None
    assert polled_event(PipelineKey("app.buddy.works", "ACME", "Web", 7), listed) is not None


def test_announcement_shows_pipeline_branch_revision_trigger_status_duration_and_link(fake_buddy):
    run = failed_run(fake_buddy)
    event = parse_webhook(json.dumps(execution_payload(fake_buddy, run)).encode())
    message = render_announcement(event, change=Change.FAILING)
    text = json.dumps(message)
    for expected in ("Deploy to production", "#1", "main", "4bc2f8a", "Fix the build", "Ann Example", "Failed",
                     "3 min 7 s", event.run_url, "Now failing"):
        assert expected in text, expected
    assert block_kit_violations(message) == []
    fixed = render_announcement(event, change=Change.FIXED)
    assert "Back to green" in fixed["text"]


def test_announcement_escapes_buddy_text_and_keeps_limits_whatever_the_names(fake_buddy):
    run = fake_buddy.add_execution(status="INPROGRESS", start=NOW, finish=None, branch="<!channel>" * 100,
                                   pipeline_name="<@U123> & " * 300, message="x" * 10_000, creator="<!here>")
    event = parse_webhook(json.dumps(execution_payload(fake_buddy, run)).encode())
    message = render_announcement(event, now=NOW + timedelta(seconds=30))
    text = json.dumps(message)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
    assert "30 s so far" in text
    assert block_kit_violations(message) == []
