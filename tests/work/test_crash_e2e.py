"""A crash at every step of answering ``/buddy``: the bot runs as a real process, the fake Slack or
Buddy holds the named call and tells the test, the test sends SIGKILL, and the bot is started again
on the same state. Steps with a held Slack call run twice: once with the call done by the fake
before the kill (the post landed, the bot never heard), once not. Afterwards the fake Slack shows
the answer exactly once: nothing lost, nothing doubled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until

CHANNEL = "C123"
LOG = [f"step {i}" for i in range(1, 41)] + ["Done"]
STEPS = [
    "after-the-ack",
    "during-the-lookup",
    "summary-post-landed",
    "summary-post-lost",
    "snippet-upload-landed",
    "snippet-upload-lost",
]


def finished_run(fake_buddy: FakeBuddy) -> str:
    action = FakeAction(name="Deploy", status="SUCCESSFUL", log=LOG, start=BASE_TIME, finish=BASE_TIME)
    run = fake_buddy.add_execution(actions=[action], branch="main")
    return fake_buddy.html_url("acme", "web", 7, run, action)


def summaries(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(CHANNEL) if m.get("blocks") and m.get("thread_ts") is None]


def snippets(fake_slack: FakeSlack, thread_ts: str) -> list[dict]:
    return [m for m in fake_slack.messages(CHANNEL) if m.get("files") and m.get("thread_ts") == thread_ts]


def units_left(state_db: Path) -> int:
    with sqlite3.connect(state_db) as db:
        return db.execute("SELECT COUNT(*) FROM work_units WHERE status != 'done'").fetchone()[0]



@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_each_step_of_a_command_loses_and_doubles_nothing(step, tmp_path, fake_slack, fake_buddy):
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env={"WORK_LEASE_S": "1"})
    crash_a_command(step, bot, fake_slack, fake_buddy, lambda: units_left(Path(bot.env["STATE_DB"])))


@pytest.mark.parametrize("step", ["summary-post-landed", "snippet-upload-lost"])
def test_a_crash_with_the_state_on_postgres_loses_and_doubles_nothing(step, tmp_path, fake_slack, fake_buddy, postgres):
    from tests.conftest import TEMPLATE_DATABASE

    database = postgres.new_database(template=TEMPLATE_DATABASE)
    env = {"WORK_LEASE_S": "1", "DATABASE_URL": database}
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env)
    name = database.rsplit("/", 1)[-1]
    crash_a_command(
        step, bot, fake_slack, fake_buddy,
        lambda: int(postgres.psql("SELECT count(*) FROM work_units WHERE status != 'done'", name).strip()),
    )


def crash_a_command(step: str, bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy, left) -> None:
    url = finished_run(fake_buddy)
    bot.start()
    held = None
    if step == "during-the-lookup":
        fake_buddy.fault("/action_executions/", status=200, delay=3600, times=1)
    elif step.startswith("summary-post"):
        held = fake_slack.hold("chat.postMessage", record=step.endswith("landed"), channel=CHANNEL)
    elif step.startswith("snippet-upload"):
        held = fake_slack.hold("files.completeUploadExternal", record=step.endswith("landed"))
    status, _ = bot.command(url, response_url=fake_slack.response_url())
    assert status == 200
    if step == "during-the-lookup":
        wait_until(lambda: fake_buddy.calls("/action_executions/"))
    elif held is not None:
        assert held.arrived.wait(20), f"{held.method} never arrived"
    bot.kill()
    fake_buddy.clear_faults()

    bot.start()  # the same state store: a restart after the crash
    try:
        wait_until(lambda: left() == 0 and summaries(fake_slack))
        [summary] = summaries(fake_slack)
        wait_until(lambda: snippets(fake_slack, summary["ts"]))
        assert len(snippets(fake_slack, summary["ts"])) == 1
        assert "Traceback" not in bot.log()
    finally:
        bot.stop()
    assert len(summaries(fake_slack)) == 1  # still one after an orderly stop: nothing was sent twice


WATCH_STEPS = ["final-update-landed", "final-update-lost", "final-snippet-landed", "final-snippet-lost"]


def watches_left(state_db: Path) -> int:
    with sqlite3.connect(state_db) as db:
        return db.execute("SELECT COUNT(*) FROM watches").fetchone()[0]


@pytest.mark.parametrize("step", WATCH_STEPS)
def test_a_crash_during_a_watched_runs_final_update_posts_its_log_once(step, tmp_path, fake_slack, fake_buddy):
    action = FakeAction(name="Deploy", status="INPROGRESS", start=BASE_TIME, finish=None, log=[])
    run = fake_buddy.add_execution(actions=[action], status="INPROGRESS", finish=None)
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    env = {"WORK_LEASE_S": "1", "WATCH_POLL_SECONDS": "0.1", "WATCH_BACKOFF_MAX_SECONDS": "0.3"}
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env).start()
    state_db = Path(bot.env["STATE_DB"])
    bot.command(url, response_url=fake_slack.response_url())
    wait_until(lambda: summaries(fake_slack) and watches_left(state_db) == 1)
    [summary] = summaries(fake_slack)
    method = "chat.update" if "update" in step else "files.completeUploadExternal"
    held = fake_slack.hold(method, record=step.endswith("landed"))
    fake_buddy.change(run, status="SUCCESSFUL", finish=BASE_TIME, log=LOG)
    assert held.arrived.wait(20), f"{method} never arrived"
    bot.kill()

    bot.start()
    try:
        wait_until(lambda: watches_left(state_db) == 0 and snippets(fake_slack, summary["ts"]))
        assert len(snippets(fake_slack, summary["ts"])) == 1
        [shown] = summaries(fake_slack)
        assert "Successful" in str(shown["blocks"])  # the final edit is there
        assert "Traceback" not in bot.log()
    finally:
        bot.stop()
    assert len(snippets(fake_slack, summary["ts"])) == 1


ANNOUNCE_STEPS = ["announcement-landed", "announcement-lost", "thread-details-landed", "thread-details-lost"]
SUBSCRIBED = "CSUB"


@pytest.mark.parametrize("step", ANNOUNCE_STEPS)
def test_a_crash_during_an_announcement_announces_the_run_once(step, tmp_path, fake_slack, fake_buddy):
    from tests.subscriptions.test_subscriptions_e2e import make_bot, new_run, subscribe

    bot = make_bot(tmp_path, fake_slack, fake_buddy, BUDDY_WEBHOOK_TOKEN="", WORK_LEASE_S="1",
                   SUBSCRIPTION_POLL_SECONDS="0.2").start()
    subscribe(bot, fake_slack, SUBSCRIBED, "failures")
    if step.startswith("announcement"):
        held = fake_slack.hold("chat.postMessage", record=step.endswith("landed"), channel=SUBSCRIBED)
    else:
        held = fake_slack.hold("files.completeUploadExternal", record=step.endswith("landed"))
    new_run(fake_buddy, "FAILED")  # the poller finds it and announces it
    assert held.arrived.wait(20), f"{held.method} never arrived"
    bot.kill()

    bot.start()
    try:
        def announced() -> list[dict]:
            return [m for m in fake_slack.messages(SUBSCRIBED) if m.get("thread_ts") is None and m.get("blocks")]

        wait_until(lambda: units_left(Path(bot.env["STATE_DB"])) == 0 and announced())
        [announcement] = announced()

        def in_thread() -> list[dict]:
            return [m for m in fake_slack.messages(SUBSCRIBED) if m.get("thread_ts") == announcement["ts"]]

        wait_until(lambda: len(in_thread()) >= 2)
        assert [bool(m.get("files")) for m in in_thread()] == [False, True]  # the details, then the log
        assert "Traceback" not in bot.log()
    finally:
        bot.stop()
    assert len([m for m in fake_slack.messages(SUBSCRIBED) if m.get("thread_ts") is None and m.get("blocks")]) == 1
