"""The commit's author and flaky actions through the real bot process (HTTP mode), the fake Slack and
the fake Buddy: webhook deliveries in the documented shape (their revisions carry the author's email),
polling, button clicks."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.actions.operations import RETRY
from bot.render.actions import ACTION_IDS
from bot.render.blocks import CLAIM_ACTION
from bot.slack.manifest import bot_scopes
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy, FakeExecution
from tests.fakes.buddy_webhooks import execution_payload, post_webhook
from tests.fakes.signing import block_actions_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until
from tests.subscriptions.test_subscriptions_e2e import make_bot, parents, subscribe, wait_for_polls, webhook_url

AUTHOR_EMAIL = "ann@example.com"  # the webhook payload's author (and committer) of every fake run
ANN, BOB, CAROL = "U0ANN", "U0BOB", "U0CAR"
ANN_DM = "D0ANN"  # the fake opens a DM with U… as D…
REVISION, NEXT_REVISION = "4bc2f8a1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"


def add_run(fake_buddy: FakeBuddy, status: str, *, revision: str = REVISION, listed: bool = False) -> FakeExecution:
    """A run finishing now, whose "Unit tests" (action 2) has ``status``; polling sees it when ``listed``."""
    now = datetime.now(timezone.utc)
    tests = FakeAction(name="Unit tests", action_id=2, status=status,
                       log=[f"test {i} ok" for i in range(30)] + (["E   AssertionError: boom"] if status == "FAILED" else []))
    return fake_buddy.add_execution(status=status, branch="main", start=now, finish=now + timedelta(seconds=95), revision=revision,
                                    actions=[FakeAction(name="Build", action_id=1), tests], listed=listed)


def deliver(bot: BotProcess, fake_buddy: FakeBuddy, run: FakeExecution) -> None:
    assert post_webhook(webhook_url(bot), execution_payload(fake_buddy, run))[0] == 200


def units_left(bot: BotProcess) -> int:
    with sqlite3.connect(Path(bot.env["STATE_DB"])) as db:
        return db.execute("SELECT COUNT(*) FROM work_units WHERE status != 'done'").fetchone()[0]


def settled(bot: BotProcess) -> None:
    """Every unit of work the bot took is done."""
    wait_until(lambda: units_left(bot) == 0, timeout=20)


def dms(fake_slack: FakeSlack) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.channel == ANN_DM]


def in_thread(fake_slack: FakeSlack, channel: str, ts: str) -> list[dict]:
    return [m for m in fake_slack.messages(channel) if m.get("thread_ts") == ts]


def announcements(fake_slack: FakeSlack, channel: str) -> list:
    """The bot's announcements in ``channel``, top-level or in a thread (a summary opens with a header)."""
    return [c for c in fake_slack.calls("chat.postMessage") if c.channel == channel and c.params["blocks"][0]["type"] == "section"]


def shown(message: dict) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


def claim_buttons(message: dict) -> list[dict]:
    return [e for b in message.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]
            if e.get("action_id") == CLAIM_ACTION]


def credits(name: str, message: dict) -> bool:
    """The Revision field names ``name`` (a mention, or a plain name) as the commit's author."""
    return re.search(re.escape(f"{name}'s commit <") + r"https://github\.com/[^|]+\|`[0-9a-f]{7}`>", shown(message)) is not None


def lookups(fake_slack: FakeSlack) -> int:
    return len(fake_slack.calls("users.lookupByEmail"))


@pytest.fixture
def bot(tmp_path, fake_slack, fake_buddy):
    fake_slack.add_person(AUTHOR_EMAIL, ANN, display_name="ann")
    process = make_bot(tmp_path, fake_slack, fake_buddy, NOTIFY_AUTHORS="true").start()
    yield process
    process.stop()


def test_a_failure_mentions_the_author_and_a_start_or_back_to_green_names_them_without(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CC", "changes")
    subscribe(bot, fake_slack, "CA", "all")
    run1 = add_run(fake_buddy, "FAILED")
    run1.status, run1.finish = "INPROGRESS", None
    deliver(bot, fake_buddy, run1)
    [start] = fake_slack.wait_for("chat.postMessage", 1, timeout=15)
    assert start.channel == "CA" and credits("ann", start.params) and "<@" not in json.dumps(start.params)

    run1.status, run1.finish = "FAILED", datetime.now(timezone.utc)
    deliver(bot, fake_buddy, run1)
    fake_slack.wait_for("files.completeUploadExternal", 2, timeout=20)
    [failing] = parents(fake_slack, "CC")
    assert "Now failing" in failing.params["text"] and failing.params["text"].endswith(f"<@{ANN}>'s commit 4bc2f8a")
    assert credits(f"<@{ANN}>", failing.params)
    assert claim_buttons(failing.params)[0]["value"] == fake_buddy.html_url("acme", "web", 7, run1)

    run2 = add_run(fake_buddy, "SUCCESSFUL")
    deliver(bot, fake_buddy, run2)
    fake_slack.wait_for("chat.postMessage", 2, timeout=15, predicate=lambda c: c.channel == "CC" and "thread_ts" not in c.params)
    back = parents(fake_slack, "CC")[1]
    assert "Back to green" in back.params["text"] and credits("ann", back.params)
    assert "<@" not in json.dumps(back.params) and claim_buttons(back.params) == []
    settled(bot)
    assert lookups(fake_slack) == 1  # one author: asked once, remembered for the day


def test_notify_authors_dms_the_first_failure_of_a_streak_once_per_run(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CX", "failures")
    subscribe(bot, fake_slack, "CY", "changes")
    run1 = add_run(fake_buddy, "FAILED", listed=True)  # the webhook and the poll both tell
    deliver(bot, fake_buddy, run1)
    [dm] = fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == ANN_DM)
    wait_for_polls(fake_buddy)
    settled(bot)
    assert len(dms(fake_slack)) == 1 and len(parents(fake_slack, "CX")) == len(parents(fake_slack, "CY")) == 1
    assert "Your commit `4bc2f8a` broke" in shown(dm.params)
    assert [e["action_id"] for e in dm.params["blocks"][-1]["elements"]] == ["buddy_open", ACTION_IDS[RETRY.name], CLAIM_ACTION]  # a failed run: Retry too (acting from Slack)
    # The DM carries the why, as the failure's details do (the same lookup).
    [details] = [m for m in fake_slack.messages("CX") if m.get("thread_ts") and m.get("blocks")]
    for message in (dm.params, details):
        assert "Why it failed" in shown(message) and "AssertionError: boom" in shown(message)

    run2 = add_run(fake_buddy, "FAILED")  # still failing: announced, nobody DMed
    deliver(bot, fake_buddy, run2)
    fake_slack.wait_for("chat.postMessage", 2, timeout=15, predicate=lambda c: c.channel == "CX" and "thread_ts" not in c.params)
    deliver(bot, fake_buddy, add_run(fake_buddy, "SUCCESSFUL", revision=NEXT_REVISION))
    fake_slack.wait_for("chat.postMessage", 2, timeout=15, predicate=lambda c: c.channel == "CY" and "thread_ts" not in c.params)
    settled(bot)
    assert len(dms(fake_slack)) == 1

    deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED", revision=NEXT_REVISION))  # a new streak
    fake_slack.wait_for("chat.postMessage", 2, timeout=20, predicate=lambda c: c.channel == ANN_DM)
    settled(bot)
    assert len(dms(fake_slack)) == 2


def test_im_on_it_notes_the_thread_shows_on_the_message_and_no_dm_follows(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CX", "failures")
    fake_slack.reset()
    # The announcement and its details take 3 s each to post: time to click before the DM is due.
    fake_slack.delay("chat.postMessage", 3, channel="CX", times=2)
    deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED"))
    [announcement] = fake_slack.wait_for("chat.postMessage", 1, timeout=15, predicate=lambda c: c.channel == "CX")
    posted = {"ts": announcement.response["ts"], **announcement.params}
    assert bot.click(block_actions_payload(posted, CLAIM_ACTION, channel="CX", user_id=BOB))[0] == 200
    settled(bot)

    notes = [m for m in in_thread(fake_slack, "CX", posted["ts"]) if "looking into it" in m.get("text", "")]
    assert [m["text"] for m in notes] == [f"<@{BOB}> is looking into it"]
    [message] = [m for m in fake_slack.messages("CX") if m["ts"] == posted["ts"]]
    assert f"<@{BOB}> is looking into it" in shown(message) and claim_buttons(message) == []
    assert dms(fake_slack) == []  # someone was on it before the DM was due

    # A second person clicking "I'm on it" under the failure's details in the thread (the same run,
    # named there by the API's number) is told who is on it, only them.
    [details] = [m for m in in_thread(fake_slack, "CX", posted["ts"]) if claim_buttons(m)]
    assert bot.click(block_actions_payload(details, CLAIM_ACTION, channel="CX", user_id=CAROL))[0] == 200
    [told] = fake_slack.wait_for("chat.postEphemeral", 1, timeout=10)
    assert told.params["user"] == CAROL and f"<@{BOB}> is looking into it" in told.params["text"]
    settled(bot)
    assert len([m for m in in_thread(fake_slack, "CX", posted["ts"]) if "looking into it" in m.get("text", "")]) == 1
    [details_now] = [m for m in fake_slack.messages("CX") if m["ts"] == details["ts"]]
    assert claim_buttons(details_now) == [] and f"<@{BOB}> is looking into it" in shown(details_now)


def test_im_on_it_in_the_dm_is_noted_where_the_failure_was_announced(bot, fake_slack, fake_buddy):
    subscribe(bot, fake_slack, "CX", "failures")
    subscribe(bot, fake_slack, "CY", "failures")
    deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED"))
    [dm] = fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == ANN_DM)
    settled(bot)
    posted = {"ts": dm.response["ts"], **dm.params}
    assert bot.click(block_actions_payload(posted, CLAIM_ACTION, channel=ANN_DM, user_id=ANN))[0] == 200
    settled(bot)
    for channel in ("CX", "CY"):
        [parent] = parents(fake_slack, channel)
        notes = [m["text"] for m in in_thread(fake_slack, channel, parent.response["ts"]) if "looking into it" in m.get("text", "")]
        assert notes == [f"<@{ANN}> is looking into it"], channel
    [shown_dm] = [m for m in fake_slack.messages(ANN_DM) if m["ts"] == posted["ts"]]
    assert claim_buttons(shown_dm) == [] and "is looking into it" in shown(shown_dm)


@pytest.mark.parametrize("quiet", [True, False])
def test_a_flaky_failure_goes_into_the_thread_of_the_last_post_when_quiet(quiet, tmp_path, fake_slack, fake_buddy):
    fake_slack.add_person(AUTHOR_EMAIL, ANN, display_name="ann")
    bot = make_bot(tmp_path, fake_slack, fake_buddy, NOTIFY_AUTHORS="true", FLAKY_QUIET=str(quiet).lower()).start()
    try:
        subscribe(bot, fake_slack, "CF", "failures")
        subscribe(bot, fake_slack, "CC", "changes")
        deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED"))  # Unit tests fails at 4bc2f8a…
        fake_slack.wait_for("files.completeUploadExternal", 2, timeout=20)
        deliver(bot, fake_buddy, add_run(fake_buddy, "SUCCESSFUL"))  # … and passes at 4bc2f8a: flaky
        fake_slack.wait_for("chat.postMessage", 1, timeout=15, predicate=lambda c: "Back to green" in c.params.get("text", ""))
        settled(bot)
        last_post = {channel: parents(fake_slack, channel)[-1].response["ts"] for channel in ("CF", "CC")}
        dms_before = len(dms(fake_slack))

        deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED", revision=NEXT_REVISION))
        fake_slack.wait_for("files.completeUploadExternal", 4, timeout=20)
        settled(bot)
        note = "flaky: failed, then passed on retry, once in the last 3 runs"
        for channel in ("CF", "CC"):
            [failure] = [c for c in announcements(fake_slack, channel) if "#3" in c.params["text"]]
            assert note in shown(failure.params) and "*Unit tests*" in shown(failure.params)
            if quiet:
                assert failure.params.get("thread_ts") == last_post[channel], channel
                assert "<@" not in json.dumps(failure.params) and credits("ann", failure.params)
                details = in_thread(fake_slack, channel, last_post[channel])
                assert any(m.get("files") for m in details)  # its log went into the same thread
            else:
                assert "thread_ts" not in failure.params, channel
                assert f"<@{ANN}>'s commit" in failure.params["text"]
        assert len(dms(fake_slack)) == dms_before + (0 if quiet else 1)  # quiet: nobody pinged
    finally:
        bot.stop()


def test_a_dm_slack_refuses_is_logged_once_and_the_announcement_stands(bot, fake_slack, fake_buddy):
    fake_slack.fail("chat.postMessage", "cannot_dm_bot", channel=ANN_DM)
    subscribe(bot, fake_slack, "CX", "failures")
    deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED", listed=True))
    fake_slack.wait_for("files.completeUploadExternal", 1, timeout=20)
    wait_for_polls(fake_buddy)
    settled(bot)
    assert len(dms(fake_slack)) == 1 and len(parents(fake_slack, "CX")) == 1
    refused = [line for line in bot.log().splitlines() if "could not DM the author" in line]
    assert len(refused) == 1 and "cannot_dm_bot" in refused[0] and "Traceback" not in bot.log()


@pytest.mark.parametrize("why", ["users_not_found", "missing_scope", "internal_error"])
def test_without_a_slack_user_for_the_email_the_announcement_names_the_author_without_a_mention(why, tmp_path, fake_buddy):
    scopes = bot_scopes() - {"users:read.email"} if why == "missing_scope" else None
    with FakeSlack(scopes=scopes) as slack:
        if why != "users_not_found":
            slack.add_person(AUTHOR_EMAIL, ANN)
        if why == "internal_error":
            slack.fail("users.lookupByEmail", "internal_error")
        bot = make_bot(tmp_path, slack, fake_buddy, NOTIFY_AUTHORS="true").start()
        try:
            subscribe(bot, slack, "CX", "failures")
            for _ in range(2):
                deliver(bot, fake_buddy, add_run(fake_buddy, "FAILED"))
            slack.wait_for("files.completeUploadExternal", 2, timeout=20)
            settled(bot)
            for announcement in parents(slack, "CX"):
                assert credits("Ann Example", announcement.params)
                assert "<@" not in announcement.params["text"]
            assert [c for c in slack.calls("chat.postMessage") if c.channel.startswith("D")] == []
            assert len(slack.calls("users.lookupByEmail")) == 1  # the miss is remembered for 15 minutes
            said = [line for line in bot.log().splitlines() if " WARNING " in line and "users:read.email" in line]
            assert len(said) == (1 if why == "missing_scope" else 0) and "Traceback" not in bot.log()
        finally:
            bot.stop()
