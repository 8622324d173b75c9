"""Following a run end to end: the bot as a real process keeps one summary current while the run
goes on in the fake Buddy, posts the log when it ends, and carries on after a restart."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.slack import BOT_USER_ID, FakeSlack

FAST_WATCH = {"WATCH_POLL_SECONDS": "0.1", "WATCH_BACKOFF_MAX_SECONDS": "0.3"}


@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=FAST_WATCH).start()
    yield process
    process.stop()


def queued_run(fake_buddy: FakeBuddy):
    action = FakeAction(name="Run tests", status="ENQUEUED", start=None, finish=None, log=[])
    run = fake_buddy.add_execution(actions=[action], status="ENQUEUED", finish=None)
    return run, fake_buddy.html_url("acme", "web", 7, run, action)


def shown(call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False) + call.params.get("text", "")


def watches(bot: BotProcess) -> int:
    with sqlite3.connect(bot.env["STATE_DB"]) as db:
        return db.execute("SELECT COUNT(*) FROM watches").fetchone()[0]


def watched_state(bot: BotProcess) -> str:
    """What the bot last showed of its one watched run, as it keeps it in STATE_DB."""
    with sqlite3.connect(bot.env["STATE_DB"]) as db:
        row = db.execute("SELECT last_state FROM watches").fetchone()
    return row[0] if row and row[0] else ""


def fail(fake_buddy: FakeBuddy, run) -> None:
    log = [f"test {i} ok" for i in range(1, 40)] + ["FAILED test_pricing"]
    fake_buddy.change(run, status="FAILED", start=BASE_TIME, finish=BASE_TIME + timedelta(seconds=90), log=log,
                      error_message="Tests failed: 1 of 40")


def test_a_run_from_queued_to_failed_is_one_message_updated_then_its_log(bot, fake_slack, fake_buddy):
    run, url = queued_run(fake_buddy)
    bot.command(url, response_url=fake_slack.response_url())
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert "ENQUEUED" in shown(post)
    channel, ts = post.response["channel"], post.response["ts"]

    fake_buddy.change(run, status="INPROGRESS", start=BASE_TIME, log=["test 1 ok"])
    [running] = fake_slack.wait_for("chat.update", timeout=15)
    assert (running.params["channel"], running.params["ts"]) == (channel, ts)
    assert "INPROGRESS" in shown(running) and "Requested by <@U123>" in shown(running)

    fail(fake_buddy, run)
    [upload] = fake_slack.wait_for("files.completeUploadExternal", timeout=15)
    fake_slack.server.wait_until(lambda: watches(bot) == 0, timeout=10)
    updates = fake_slack.calls("chat.update")
    assert len(updates) == 2 and updates[-1].params["ts"] == ts
    assert "FAILED" in shown(updates[-1]) and "Tests failed: 1 of 40" in shown(updates[-1])
    [snippet] = fake_slack.uploads()
    assert (snippet["channel"], snippet["thread_ts"]) == (channel, ts)
    assert snippet["content"].splitlines()[-1] == "FAILED test_pricing"
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_a_restart_in_the_middle_resumes_the_watch(bot, fake_slack, fake_buddy):
    run, url = queued_run(fake_buddy)
    bot.command(url, response_url=fake_slack.response_url())
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    fake_buddy.change(run, status="INPROGRESS", start=BASE_TIME)
    fake_slack.wait_for("chat.update", timeout=15)
    # Stopped before it noted the update, the bot would (rightly) make it again after the restart.
    fake_slack.server.wait_until(lambda: "INPROGRESS" in watched_state(bot), timeout=10)

    bot.restart()
    assert watches(bot) == 1
    fail(fake_buddy, run)
    fake_slack.wait_for("files.completeUploadExternal", timeout=15)
    fake_slack.server.wait_until(lambda: watches(bot) == 0, timeout=10)
    updates = fake_slack.calls("chat.update")
    assert len(updates) == 2 and "FAILED" in shown(updates[-1])
    assert all(update.params["ts"] == post.response["ts"] for update in updates)
    assert len(fake_slack.uploads()) == 1 and len(fake_slack.calls("chat.postMessage")) == 1
    assert "resuming 1 watch(es)" in bot.log()


def test_a_mention_in_a_thread_is_followed_with_the_log_in_that_thread(bot, fake_slack, fake_buddy):
    run, url = queued_run(fake_buddy)
    mention = {"type": "app_mention", "user": "U7", "text": f"<@{BOT_USER_ID}> <{url}>", "ts": "1700001000.000200",
               "thread_ts": "1700001000.000100", "channel": "C42", "event_ts": "1700001000.000200"}
    bot.event(mention)
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    fail(fake_buddy, run)
    fake_slack.wait_for("files.completeUploadExternal", timeout=15)
    [update] = fake_slack.calls("chat.update")
    assert update.params["ts"] == post.response["ts"]
    assert fake_slack.uploads()[0]["thread_ts"] == "1700001000.000100"  # the thread's parent, as Slack requires


def test_a_finished_run_is_not_followed(bot, fake_slack, fake_buddy):
    action = FakeAction(name="Build", status="SUCCESSFUL", log=["done"])
    run = fake_buddy.add_execution(actions=[action])
    bot.command(fake_buddy.html_url("acme", "web", 7, run, action), response_url=fake_slack.response_url())
    fake_slack.wait_for("files.completeUploadExternal", timeout=15)
    assert watches(bot) == 0
    assert not fake_slack.calls("chat.update")
