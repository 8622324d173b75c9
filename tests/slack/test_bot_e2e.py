"""The bot as a real process in HTTP mode, driven by signed requests exactly as Slack sends them,
against the fake Slack Web API and the fake Buddy API."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.signing import post_signed, slash_command_body
from tests.fakes.slack import BOT_USER_ID, FakeSlack


@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url).start()
    yield process
    process.stop()


def seed_run(fake_buddy: FakeBuddy):
    action = FakeAction(
        name="Pass arguments", type="WAIT_FOR_VARIABLES", status="SUCCESSFUL",
        log=[f"step {i}" for i in range(1, 31)] + ["Done"],
        approver_id=1, approval_date=BASE_TIME,
        passed_variables=[{"key": "var", "value": "123"}, {"key": "API_TOKEN", "value": "s3cr3t-value"}],
        outputted_variables=[{"key": "BUDDY_APPROVING_ACTOR", "value": "Mike"}],
    )
    run = fake_buddy.add_execution(actions=[action], branch="main")
    return run, action, fake_buddy.html_url("acme", "web", 7, run, action)


def message_texts(call) -> str:
    return json.dumps(call.params.get("blocks", [])) + call.params.get("text", "")


def test_slash_command_acks_before_buddy_answers_then_posts_summary_and_snippet(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    fake_buddy.fault("/executions", status=200, delay=2.0, times=1)  # hold the first response 2 s
    started = time.monotonic()
    status, _ = bot.command(url, response_url=fake_slack.response_url())
    assert status == 200
    # The 200 came back while Buddy was still holding its first answer: nothing is posted yet.
    assert time.monotonic() - started < 2.0
    assert not fake_slack.calls("chat.postMessage")
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["channel"] == "C123"
    assert "thread_ts" not in post.params
    text = message_texts(post)
    for expected in ("SUCCESSFUL", "Pass arguments", "Mike", "2025-05-28 09:51 UTC", "var", "123", "<@U123>"):
        assert expected in text, expected
    assert "s3cr3t-value" not in text
    [upload] = fake_slack.wait_for("files.completeUploadExternal", timeout=10)
    snippet = fake_slack.uploads()[0]
    assert snippet["thread_ts"] == post.response["ts"]
    assert snippet["channel"] == "C123"
    assert snippet["content"].splitlines() == [f"step {i}" for i in range(12, 31)] + ["Done"]


def test_slash_command_help_and_bad_input_answer_ephemerally(bot, fake_slack):
    status, body = bot.command("help", response_url=fake_slack.response_url())
    assert status == 200 and "/buddy" in body
    status, body = bot.command("https://example.com/not/buddy", response_url=fake_slack.response_url())
    assert status == 200 and "found no Buddy run" in body
    time.sleep(0)  # nothing is posted for either: both were answered by the ack alone
    assert not fake_slack.calls("chat.postMessage")


def test_mention_in_thread_gets_one_reply_in_that_thread_even_when_delivered_twice(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    event = {"type": "app_mention", "user": "U777", "text": f"<@{BOT_USER_ID}> <{url}>", "ts": "1700000500.000200",
             "thread_ts": "1700000400.000100", "channel": "C555", "event_ts": "1700000500.000200"}
    assert bot.event(event)[0] == 200
    assert bot.event(event, retry=1)[0] == 200
    # Slack also delivers the mention as a plain message event.
    assert bot.event({**event, "type": "message", "channel_type": "channel"})[0] == 200
    fake_slack.wait_for("files.completeUploadExternal", timeout=15)
    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].params["channel"] == "C555" and posts[0].params["thread_ts"] == "1700000400.000100"
    assert fake_slack.uploads()[0]["thread_ts"] == "1700000400.000100"
    assert len(fake_buddy.calls("/action_executions/")) == 1


def test_bot_notification_with_link_in_attachment_gets_details_in_its_thread(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    run_url = fake_buddy.html_url("acme", "web", 7, run)
    event = {
        "type": "message", "subtype": "bot_message", "bot_id": "BBUDDY", "username": "Buddy",
        "text": "[#12] Deploy to production execution by <https://app.buddy.works/profile/3|Ann>",
        "attachments": [{"fallback": "Failed execution", "fields": [{"title": "Failed execution", "value": f"<{run_url}|#12>"}]}],
        "ts": "1700000600.000300", "channel": "C777", "channel_type": "channel", "event_ts": "1700000600.000300",
    }
    assert bot.event(event)[0] == 200
    assert bot.event(event, retry=1)[0] == 200
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["thread_ts"] == "1700000600.000300" and post.params["channel"] == "C777"
    fake_slack.wait_for("files.completeUploadExternal", timeout=10)
    time.sleep(0.3)  # a second, duplicate reply would have been sent by now
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_messages_without_run_links_and_own_messages_are_ignored(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    # Posted by a bot, since only bots' links get thread replies (a person's are unfurled instead).
    profile = {"type": "message", "subtype": "bot_message", "bot_id": "BBUDDY",
               "text": "see <https://app.buddy.works/acme/web> and https://buddy.works/docs",
               "ts": "1700000700.000100", "channel": "C1", "channel_type": "channel"}
    own = {"type": "message", "subtype": "bot_message", "bot_id": "BBOT", "user": BOT_USER_ID, "text": url,
           "ts": "1700000700.000200", "channel": "C1", "channel_type": "channel"}
    assert bot.event(profile)[0] == 200
    assert bot.event(own)[0] == 200
    marker = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER_ID}> help", "ts": "1700000700.000300", "channel": "C1"}
    bot.event(marker)
    [reply] = fake_slack.wait_for("chat.postMessage", timeout=10)  # the help reply, and nothing else
    assert reply.params["thread_ts"] == "1700000700.000300"
    assert not fake_buddy.calls()


def test_direct_message_is_answered_in_the_dm(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    event = {"type": "message", "user": "U9", "text": f"acme web 7 {run.id} {action.ae_id}", "ts": "1700000800.000100",
             "channel": "D999", "channel_type": "im"}
    bot.event(event)
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["channel"] == "D999"
    assert "Pass arguments" in message_texts(post)


def test_not_in_channel_falls_back_to_response_url_with_log_inline(bot, fake_slack, fake_buddy):
    run, action, url = seed_run(fake_buddy)
    fake_slack.fail("chat.postMessage", "not_in_channel", channel="CPRIV")
    bot.command(url, response_url=fake_slack.response_url("priv"), channel_id="CPRIV")
    fake_slack.server.wait_until(lambda: fake_slack.responses("priv"), timeout=15)
    [response] = fake_slack.responses("priv")
    body = json.dumps(response)
    assert "Pass arguments" in body and "Done" in body
    assert not fake_slack.calls("files.completeUploadExternal")


@pytest.mark.parametrize("case", ["bad_signature", "stale_timestamp"])
def test_bad_or_stale_signature_is_refused(bot, fake_slack, case):
    body = slash_command_body("help")
    secret, timestamp = ("wrong-secret", None) if case == "bad_signature" else (SIGNING_SECRET, int(time.time()) - 6 * 60)
    status, _ = post_signed(bot.events_url, body, secret, content_type="application/x-www-form-urlencoded", timestamp=timestamp)
    assert status == 401


def test_start_up_logs_no_warning(bot):
    """Bolt's "As you gave `client` as well, `token` will be unused" came on every start; a start
    with a good set-up has nothing to warn about."""
    assert bot.healthy()
    log = bot.log()
    assert "listening on http://" in log
    assert [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line] == []
