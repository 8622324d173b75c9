"""Channel subscriptions through the real bot process (HTTP mode) against the fake Slack and Buddy:
webhook deliveries in the documented shape, polling of the executions list, restarts."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy, FakeExecution
from tests.fakes.buddy_webhooks import execution_payload, post_webhook, push_payload
from tests.fakes.signing import block_actions_body, post_signed
from tests.fakes.slack import FakeSlack

WEBHOOK_TOKEN = secrets.token_urlsafe(32)
PUBLIC_URL = "https://bot.example.com"
PIPELINE_URL = "https://app.buddy.works/acme/web/pipelines/pipeline/7"
EXECUTIONS_LIST = "/pipelines/7/executions"


def make_bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, **env: str) -> BotProcess:
    fake_buddy.pipelines.setdefault(("acme", "web", 7), [])
    # The live-status watch is slowed down here so that it never adds an edit to the counts pinned
    # below; test_all_mode_keeps_a_running_message_current_through_the_watch speeds it up.
    settings = {"BUDDY_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "PUBLIC_URL": PUBLIC_URL, "SUBSCRIPTION_POLL_SECONDS": "1",
                "SLACK_CHANNEL_PACING_S": "0.01", "WATCH_POLL_SECONDS": "3600", **env}
    return BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=settings)


@pytest.fixture
def bot(tmp_path, fake_slack, fake_buddy):
    process = make_bot(tmp_path, fake_slack, fake_buddy).start()
    yield process
    process.stop()


def webhook_url(bot: BotProcess, token: str = WEBHOOK_TOKEN) -> str:
    return f"{bot.url}/buddy/webhooks/{token}"


def subscribe(bot: BotProcess, fake_slack: FakeSlack, channel: str, args: str = "") -> str:
    """Subscribes ``channel`` and returns the ephemeral confirmation's text."""
    seen = len(fake_slack.calls("chat.postEphemeral"))
    status, ack = bot.command(f"subscribe {PIPELINE_URL} {args}".strip(), channel_id=channel,
                              response_url=fake_slack.response_url(channel))
    assert status == 200 and "Checking" in ack
    confirmations = fake_slack.wait_for("chat.postEphemeral", seen + 1, timeout=15)
    [mine] = [c for c in confirmations[seen:] if c.channel == channel]
    return json.dumps(mine.params)


def new_run(fake_buddy: FakeBuddy, status: str, *, listed: bool = True, **kw) -> FakeExecution:
    now = datetime.now(timezone.utc)
    actions = [FakeAction(name="Build")]
    if status == "FAILED":
        actions.append(FakeAction(name="Unit tests", status="FAILED", log=[f"test {i} ok" for i in range(40)] + ["AssertionError: boom"]))
    return fake_buddy.add_execution(status=status, branch="main", start=now, finish=now + timedelta(seconds=95),
                                    actions=actions, listed=listed, **kw)


def parents(fake_slack: FakeSlack, channel: str | None = None) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if "thread_ts" not in c.params and channel in (None, c.channel)]


def wait_for_polls(fake_buddy: FakeBuddy, count: int = 2) -> None:
    """Waits until the bot has polled ``count`` more times: the poll before the last is fully handled."""
    seen = len(fake_buddy.calls(EXECUTIONS_LIST))
    fake_buddy.server.wait_until(lambda: len(fake_buddy.calls(EXECUTIONS_LIST)) >= seen + count, timeout=15)


def test_done_when_webhook_then_poll_then_restart_then_poll(bot, fake_slack, fake_buddy):
    x_reply = subscribe(bot, fake_slack, "CX", "changes")
    y_reply = subscribe(bot, fake_slack, "CY", "failures")
    assert "I added a webhook" in x_reply and "already sends me" in y_reply
    [hook] = fake_buddy.webhooks["acme"]
    assert hook["target_url"] == f"{PUBLIC_URL}/buddy/webhooks/{WEBHOOK_TOKEN}"
    assert hook["events"] == ["EXECUTION_STARTED", "EXECUTION_FINISHED"] and hook["projects"] == ["web"]

    # Run 1 fails; only the webhook tells (the executions list leaves it out for now).
    run1 = new_run(fake_buddy, "FAILED", listed=False)
    assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run1))[0] == 200
    fake_slack.wait_for("files.completeUploadExternal", 2, timeout=20)
    for channel in ("CX", "CY"):
        [parent] = parents(fake_slack, channel)
        assert "Failed" in parent.params["text"] and "#1" in parent.params["text"]
        thread = [c for c in fake_slack.calls("chat.postMessage") if c.params.get("thread_ts") == parent.response["ts"]]
        assert len(thread) == 1 and "Unit tests" in json.dumps(thread[0].params)
        [snippet] = [u for u in fake_slack.uploads() if u["channel"] == channel]
        assert snippet["thread_ts"] == parent.response["ts"] and snippet["content"].endswith("AssertionError: boom")
    assert "Now failing" in parents(fake_slack, "CX")[0].params["text"]

    # Now polling sees run 1 too: nothing new.
    run1.listed = True
    wait_for_polls(fake_buddy)
    assert len(fake_slack.calls("chat.postMessage")) == 4

    bot.restart()
    run2 = new_run(fake_buddy, "SUCCESSFUL")
    assert run2.id == 2
    fake_slack.wait_for("chat.postMessage", 5, timeout=20)
    wait_for_polls(fake_buddy)

    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) == 5
    assert [p.channel for p in parents(fake_slack)] == ["CX", "CY", "CX"]
    back_to_green = parents(fake_slack, "CX")[1]
    assert "Back to green" in back_to_green.params["text"] and "#2" in back_to_green.params["text"]
    assert len(fake_slack.uploads()) == 2
    # The webhook's secret address went nowhere public.
    assert WEBHOOK_TOKEN not in json.dumps([c.params for c in posts])


def test_wrong_token_gets_404_and_posts_nothing_push_events_are_ignored(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CF", "failures")
    run = new_run(fake_buddy, "FAILED", listed=False)
    assert post_webhook(webhook_url(bot, "not-the-token"), execution_payload(fake_buddy, run))[0] == 404
    assert post_webhook(webhook_url(bot), push_payload())[0] == 200
    assert post_webhook(webhook_url(bot), b"<html>not json</html>")[0] == 200
    wait_for_polls(fake_buddy)
    assert fake_slack.calls("chat.postMessage") == []
    # The receiver still works after the junk, and takes a delivery whose inline logs run to 20 MB.
    run.actions[-1].log = ["x" * 199 for _ in range(100_000)] + ["AssertionError: boom"]
    payload = json.dumps(execution_payload(fake_buddy, run)).encode()
    assert len(payload) > 20_000_000
    assert post_webhook(webhook_url(bot), payload)[0] == 200
    [parent] = fake_slack.wait_for("chat.postMessage", 1, timeout=20)
    assert parent.channel == "CF" and "Failed" in parent.params["text"]


def test_all_mode_posts_at_start_and_updates_the_same_message_at_the_end(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CA", "all")
    run = new_run(fake_buddy, "INPROGRESS", listed=False)
    run.finish = None
    assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))[0] == 200
    [start] = fake_slack.wait_for("chat.postMessage", 1, timeout=15)
    assert "In progress" in start.params["text"]
    run.status, run.finish = "SUCCESSFUL", datetime.now(timezone.utc)
    assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))[0] == 200
    [update] = fake_slack.wait_for("chat.update", 1, timeout=15)
    assert update.params["ts"] == start.response["ts"] and "Successful" in update.params["text"]
    run.listed = True
    wait_for_polls(fake_buddy)
    assert len(fake_slack.calls("chat.postMessage")) == 1 and len(fake_slack.calls("chat.update")) == 1


def test_all_mode_keeps_a_running_message_current_through_the_watch(tmp_path, fake_slack, fake_buddy):
    bot = make_bot(tmp_path, fake_slack, fake_buddy, SUBSCRIPTION_POLL_SECONDS="0",
                   WATCH_POLL_SECONDS="0.1", WATCH_BACKOFF_MAX_SECONDS="0.3").start()
    try:
        subscribe(bot, fake_slack, "CW", "all")
        queued = [FakeAction(name=name, status="ENQUEUED", start=None, finish=None, log=[]) for name in ("Build", "Unit tests")]
        run = fake_buddy.add_execution(status="INPROGRESS", start=datetime.now(timezone.utc), finish=None, actions=queued,
                                       listed=False)
        assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))[0] == 200
        [start] = fake_slack.wait_for("chat.postMessage", 1, timeout=15)

        def edited_to(text: str) -> list:
            return fake_slack.wait_for("chat.update", 1, timeout=15, predicate=lambda c: text in json.dumps(c.params, ensure_ascii=False))

        fake_buddy.change(run, 0, status="INPROGRESS")
        [first] = edited_to("1 of 2 · Build")
        fake_buddy.change(run, 0, status="SUCCESSFUL", finish=datetime.now(timezone.utc))
        fake_buddy.change(run, 1, status="INPROGRESS")
        [second] = edited_to("2 of 2 · Unit tests")
        fake_buddy.change(run, 1, status="SUCCESSFUL", finish=datetime.now(timezone.utc))
        run.status, run.finish = "SUCCESSFUL", datetime.now(timezone.utc)
        [last] = edited_to("Successful")
        assert {c.params["ts"] for c in (first, second, last)} == {start.response["ts"]}
        assert len(fake_slack.calls("chat.postMessage")) == 1 and fake_slack.uploads() == []
    finally:
        bot.stop()


def test_old_runs_are_not_announced_and_a_run_that_ended_while_down_is(tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_execution(status="FAILED")  # finished in 2025, long before the subscription
    bot = make_bot(tmp_path, fake_slack, fake_buddy, SUBSCRIPTION_POLL_SECONDS="0.3").start()
    try:
        subscribe(bot, fake_slack, "CA", "all")
        wait_for_polls(fake_buddy)
        assert fake_slack.calls("chat.postMessage") == []
        bot.stop()
        run = new_run(fake_buddy, "SUCCESSFUL")
        bot.start()
        [post] = fake_slack.wait_for("chat.postMessage", 1, timeout=20)
        assert f"#{run.id}" in post.params["text"]
        wait_for_polls(fake_buddy)
        assert len(fake_slack.calls("chat.postMessage")) == 1
    finally:
        bot.stop()


def test_polling_makes_one_request_per_pipeline_however_many_channels(tmp_path, fake_slack, fake_buddy):
    bot = make_bot(tmp_path, fake_slack, fake_buddy, SUBSCRIPTION_POLL_SECONDS="0.3").start()
    try:
        for channel in ("C1", "C2", "C3"):
            subscribe(bot, fake_slack, channel, "all")
        new_run(fake_buddy, "SUCCESSFUL")
        fake_slack.wait_for("chat.postMessage", 3, timeout=20)
        fake_buddy.reset_calls()
        wait_for_polls(fake_buddy, 3)
        # Besides the executions list, the bot sent nothing; and exactly one list request per poll.
        polled = fake_buddy.calls()
        assert {(c.method, c.path) for c in polled} == {("GET", "/workspaces/acme/projects/web/pipelines/7/executions")}
        assert all(c.query.get("page") == "1" and int(c.query["per_page"]) <= 20 for c in polled)
        assert len(fake_slack.calls("chat.postMessage")) == 3
    finally:
        bot.stop()


def test_unsubscribe_stops_messages(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CF", "failures")
    subscribe(bot, fake_slack, "CMARK", "failures")
    status, body = bot.command(f"unsubscribe {PIPELINE_URL}", channel_id="CF", response_url=fake_slack.response_url())
    assert status == 200 and "no longer follows pipeline 7 of acme/web" in body
    run = new_run(fake_buddy, "FAILED", listed=False)
    post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))
    # The marker channel's thread details come after its parent message; CF's would have come with it.
    fake_slack.wait_for("files.completeUploadExternal", 1, timeout=20)
    assert {c.channel for c in fake_slack.calls("chat.postMessage")} == {"CMARK"}
    status, body = bot.command(f"unsubscribe {PIPELINE_URL}", channel_id="CF", response_url=fake_slack.response_url())
    assert "doesn't follow" in body


def test_subscriptions_list_and_its_remove_button(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CL", "changes branch=main")
    status, body = bot.command("subscriptions", channel_id="CL", response_url=fake_slack.response_url())
    listing = json.loads(body)
    [row] = [b for b in listing["blocks"] if "accessory" in b]
    assert "pipeline 7 of acme/web on branch main" in row["text"]["text"] and "changes" in row["text"]["text"]
    button = row["accessory"]
    # A click from another channel cannot remove it.
    for channel, name in (("COTHER", "other"), ("CL", "rm")):
        payload = {"type": "block_actions", "user": {"id": "U123"}, "channel": {"id": channel}, "team": {"id": "T123"},
                   "api_app_id": "A123", "token": "x", "trigger_id": "1.2.3", "response_url": fake_slack.response_url(name),
                   "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
                   "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"],
                                "block_id": row.get("block_id", "b"), "action_ts": "1700000000.000001"}]}
        status, _ = post_signed(bot.events_url, block_actions_body(payload), SIGNING_SECRET,
                                content_type="application/x-www-form-urlencoded")
        assert status == 200
        fake_slack.server.wait_until(lambda: fake_slack.responses(name), timeout=10)
    assert "already removed" in json.dumps(fake_slack.responses("other"))
    [redrawn] = fake_slack.responses("rm")
    assert redrawn["replace_original"] is True and "Removed" in json.dumps(redrawn) and "follows no" in json.dumps(redrawn)
    status, body = bot.command("subscriptions", channel_id="CL", response_url=fake_slack.response_url())
    assert "follows no Buddy pipelines" in body


def test_webhook_scope_missing_tells_the_person_what_to_add_only_to_them(bot, fake_slack, fake_buddy):
    fake_buddy.fault("/webhooks", status=403, body={"errors": [{"message": "Insufficient scope"}]})
    reply = subscribe(bot, fake_slack, "CW", "failures")
    assert f"{PUBLIC_URL}/buddy/webhooks/{WEBHOOK_TOKEN}" in reply
    assert "EXECUTION_STARTED" in reply and "EXECUTION_FINISHED" in reply and "WEBHOOK_ADD" in reply
    [ephemeral] = fake_slack.calls("chat.postEphemeral")
    assert ephemeral.params["user"] == "U123"
    assert fake_slack.calls("chat.postMessage") == []


def test_usage_errors_and_the_workspace_restriction_are_answered_in_the_ack(tmp_path, fake_slack, fake_buddy):
    bot = make_bot(tmp_path, fake_slack, fake_buddy, BUDDY_WORKSPACES="acme").start()
    try:
        for text, expected in [
            ("subscribe", "Which pipeline?"),
            ("subscribe https://example.com/acme/web", "not a link to a Buddy pipeline or project"),
            (f"subscribe {PIPELINE_URL} sometimes", "I don't understand “sometimes”"),
            ("subscribe https://app.buddy.works/other/web/pipelines/pipeline/7", "not allowed to read the Buddy workspace other"),
            ("unsubscribe", "Which pipeline?"),
        ]:
            status, body = bot.command(text, channel_id="CU", response_url=fake_slack.response_url())
            assert status == 200 and expected in json.loads(body)["text"], text
        assert fake_slack.calls("chat.postEphemeral") == [] and fake_buddy.calls("/executions") == []
    finally:
        bot.stop()


def test_subscribing_to_a_pipeline_buddy_refuses_says_why_and_saves_nothing(bot, fake_slack, fake_buddy):
    status, _ = bot.command("subscribe https://app.buddy.works/acme/web/pipelines/pipeline/99", channel_id="CN",
                            response_url=fake_slack.response_url())
    assert status == 200
    [reply] = fake_slack.wait_for("chat.postEphemeral", 1, timeout=15)
    assert "can't follow pipeline 99 of acme/web" in json.dumps(reply.params)
    status, body = bot.command("subscriptions", channel_id="CN", response_url=fake_slack.response_url())
    assert "follows no Buddy pipelines" in body


def test_a_burst_of_50_finished_runs_reaches_the_channel_complete_in_order_and_paced(tmp_path, fake_slack, fake_buddy):
    pacing = 0.05
    bot = make_bot(tmp_path, fake_slack, fake_buddy, SLACK_CHANNEL_PACING_S=str(pacing), SUBSCRIPTION_POLL_SECONDS="0").start()
    try:
        subscribe(bot, fake_slack, "CB", "all")
        runs = [new_run(fake_buddy, "SUCCESSFUL", listed=False) for _ in range(50)]
        for run in runs:
            assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))[0] == 200
        posts = fake_slack.wait_for("chat.postMessage", 50, timeout=30)
        assert all(f"#{run.id} " in post.params["text"] for run, post in zip(runs, posts, strict=True))
        gaps = [later.time - earlier.time for earlier, later in zip(posts, posts[1:])]
        assert min(gaps) >= pacing * 0.9
    finally:
        bot.stop()
