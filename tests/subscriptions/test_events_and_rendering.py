"""Webhook deliveries in the documented shape (and its variants) become the same RunEvent as a polled
run, whatever the chunks they stream in; what cannot be held is refused; the announcement shows what
a channel needs and keeps Block Kit's limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bot.buddy.models import Execution
from bot.render.announcement import render_announcement
from bot.render.limits import block_kit_violations
from bot.subscriptions.events import MAX_KEPT_BYTES, MAX_VALUE_BYTES, RunEvent, WebhookReader, polled_event, webhook_event
from bot.subscriptions.router import Change
from bot.subscriptions.store import PipelineKey
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.buddy_webhooks import execution_payload, push_payload

NOW = datetime.now(timezone.utc)
PIPELINE = PipelineKey("app.buddy.works", "acme", "web", 7)


def read(body: bytes, chunk: int = 64 * 1024) -> tuple[dict | None, str | None]:
    """Feeds a body to the reader in chunks, as the receiver does: (the run kept, why it was refused)."""
    reader = WebhookReader()
    for start in range(0, len(body), chunk):
        if (refusal := reader.feed(body[start : start + chunk])) is not None:
            return None, refusal
    return reader.finish()


def parse_webhook(body: bytes, *, chunk: int = 64 * 1024) -> RunEvent | None:
    execution, refusal = read(body, chunk)
    assert refusal is None, refusal
    return webhook_event(execution) if execution is not None else None


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
    kept, _ = read(body)
    assert kept is not None and len(kept["action_executions"]) == 2
    assert all("log" not in action and "log_url" in action and "action" in action for action in kept["action_executions"])
    pushed = webhook_event(kept)
    assert pushed is not None and pushed.status == "FAILED"
    assert all(action.log is None for action in pushed.execution.action_executions)


def test_any_chunking_of_a_delivery_keeps_the_same_run(fake_buddy):
    run = failed_run(fake_buddy)
    payload = execution_payload(fake_buddy, run)
    payload["execution"]["comment"] = 'quotes " and backslashes \\ and \\" and unicode é ✓'
    payload["execution"]["action_executions"][1]["log"].append('a "quoted" line \\ ending in a backslash \\')
    body = json.dumps(payload).encode()
    expected = dict(payload["execution"], action_executions=[
        {k: v for k, v in action.items() if k != "log"} for action in payload["execution"]["action_executions"]])
    for chunk in (1, 2, 3, 7, 64, len(body)):
        assert read(body, chunk) == (expected, None), chunk


def test_one_value_too_long_to_hold_is_refused_even_behind_escaped_quotes(fake_buddy):
    run = failed_run(fake_buddy)
    over, under = MAX_VALUE_BYTES // 2 + 1, MAX_VALUE_BYTES // 2 - 100  # characters JSON writes as two bytes each
    lines = [("x" * (MAX_VALUE_BYTES + 1), False), ('"' * over, False), ("\\" * over, False),
             ('"' * under, True), ('\\"' * (under // 2), True)]
    for shift in ("", "!"):  # moves where the 1 MB pieces cut the escapes
        for line, fits in lines:
            run.actions[1].log = ["fine" + shift, line, "AssertionError: boom"]
            kept, refusal = read(json.dumps(execution_payload(fake_buddy, run)).encode())
            if fits:
                assert refusal is None and kept is not None and "log" not in kept["action_executions"][1]
            else:
                assert kept is None and refusal == f"one value in it runs over {MAX_VALUE_BYTES // 2**20} MB"
    # Many lines adding up to far more are fine: each is short.
    run.actions[1].log = ["y" * 1000] * 20_000
    assert read(json.dumps(execution_payload(fake_buddy, run)).encode())[1] is None


def test_a_run_too_large_to_keep_without_its_logs_is_refused(fake_buddy):
    run = failed_run(fake_buddy)
    payload = execution_payload(fake_buddy, run)
    payload["execution"]["action_executions"] *= MAX_KEPT_BYTES // 1000
    kept, refusal = read(json.dumps(payload).encode())
    assert kept is None and refusal == f"its run, without the logs, runs over {MAX_KEPT_BYTES // 2**20} MB"


def test_push_events_junk_and_foreign_hosts_are_ignored(fake_buddy):
    assert parse_webhook(json.dumps(push_payload()).encode()) is None
    for junk in (b"not json", b"[1, 2]", b"", b'{"execution": {"id": 1', b'{"execution": "\xff"}', b'{"execution": 1} x'):
        assert parse_webhook(junk) is None, junk
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
