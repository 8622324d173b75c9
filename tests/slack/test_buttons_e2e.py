"""The summary's buttons, clicked the way Slack sends clicks (signed ``payload=`` posts, and over
Socket Mode), against the bot as a real process."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from bot.render.blocks import CLAIM_ACTION
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.signing import block_actions_payload, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.fakes.socket_mode import FakeSlackSocketMode
from tests.slack.test_watch_e2e import watches

ENV = {"BUDDY_WORKSPACES": "acme", "MORE_LOG_LINES": "50", "MORE_LOG_MAX": "100",
       "WATCH_POLL_SECONDS": "0.1", "WATCH_BACKOFF_MAX_SECONDS": "0.3"}


@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=ENV).start()
    yield process
    process.stop()


def posted(fake_slack: FakeSlack, fake_buddy: FakeBuddy, bot: BotProcess, action: FakeAction):
    """Runs ``/buddy`` on a new run of ``action``; returns the run and the posted summary as a message."""
    run = fake_buddy.add_execution(actions=[action])
    bot.command(fake_buddy.html_url("acme", "web", 7, run, action), response_url=fake_slack.response_url())
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    fake_slack.wait_for("files.completeUploadExternal", timeout=10)
    return run, as_message(post)


def as_message(call) -> dict:
    return {"ts": call.params.get("ts") or call.response["ts"], "text": call.params["text"], "blocks": call.params["blocks"]}


def button_values(message: dict) -> dict[str, str]:
    return {element["action_id"]: element.get("value", "") for block in message["blocks"] if block["type"] == "actions"
            for element in block["elements"]}


def shown(call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False) + call.params.get("text", "")


def test_refresh_acks_at_once_then_redraws_the_summary_in_place(bot, fake_slack, fake_buddy):
    run, message = posted(fake_slack, fake_buddy, bot, FakeAction(name="Deploy", status="FAILED", error_message="boom"))
    fake_buddy.change(run, status="SUCCESSFUL", error_message=None)  # a finished run, cached by the bot: Refresh must look again
    fake_buddy.fault("/action_executions/", status=200, delay=2.0, times=1)
    status, _ = bot.click(block_actions_payload(message, "buddy_refresh", channel="C123"))
    assert status == 200
    assert not fake_slack.calls("chat.update")  # answered while Buddy still held the lookup
    [update] = fake_slack.wait_for("chat.update", timeout=15)
    assert (update.params["channel"], update.params["ts"]) == ("C123", message["ts"])
    assert "SUCCESSFUL" in shown(update) and "boom" not in shown(update)
    assert "Requested by <@U123>" in shown(update)


@pytest.mark.parametrize("value, says", [
    ("https://evil.example/acme/web/pipelines/pipeline/7/execution/1", "does not point at a Buddy run"),
    ("https://app.buddy.works/other/web/pipelines/pipeline/7/execution/1", "BUDDY_WORKSPACES"),
    ("", "does not point at a Buddy run"),
])
def test_a_forged_button_value_is_refused_without_a_request(bot, fake_slack, fake_buddy, value, says):
    run, message = posted(fake_slack, fake_buddy, bot, FakeAction(name="Deploy", log=[f"line {i}" for i in range(1, 60)]))
    fake_buddy.reset_calls()
    for action_id in ("buddy_refresh", "buddy_more_log"):
        assert bot.click(block_actions_payload(message, action_id, channel="C123", value=value))[0] == 200
    notes = fake_slack.wait_for("chat.postEphemeral", count=2, timeout=10)
    assert all(says in shown(note) and note.params["user"] == "U123" for note in notes)
    assert not fake_buddy.calls() and not fake_slack.calls("chat.update")


def test_more_log_posts_earlier_blocks_in_the_thread_up_to_the_cap(bot, fake_slack, fake_buddy):
    action = FakeAction(name="Run tests", status="FAILED", log=[f"line {i}" for i in range(1, 201)])
    run, message = posted(fake_slack, fake_buddy, bot, action)
    assert fake_slack.uploads()[0]["content"].splitlines()[0] == "line 181"  # the tail: LOG_LINES=20

    bot.click(block_actions_payload(message, "buddy_more_log", channel="C123"))
    [update] = fake_slack.wait_for("chat.update", timeout=15)
    first = fake_slack.uploads()[1]
    assert first["content"].splitlines() == [f"line {i}" for i in range(131, 181)]
    assert first["thread_ts"] == message["ts"] and first["title"] == "Log lines 131–180 of 200 · Run tests"
    action_url = fake_buddy.html_url("acme", "web", 7, run, action)
    assert button_values(as_message(update))["buddy_more_log"] == f"130 {action_url}"

    bot.click(block_actions_payload(as_message(update), "buddy_more_log", channel="C123"))
    second_update = fake_slack.wait_for("chat.update", count=2, timeout=15)[1]
    assert fake_slack.uploads()[2]["content"].splitlines() == [f"line {i}" for i in range(81, 131)]
    # MORE_LOG_MAX=100 earlier lines are posted: the button is gone, the others stay.
    assert set(button_values(as_message(second_update))) == {"buddy_open", CLAIM_ACTION, "buddy_refresh"}

    bot.click(block_actions_payload(message, "buddy_more_log", channel="C123", value=f"80 {action_url}"))
    [note] = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert "at most 100 earlier lines" in shown(note)
    assert len(fake_slack.uploads()) == 3


def test_open_in_buddy_is_acknowledged_and_nothing_else(bot, fake_slack, fake_buddy):
    run, message = posted(fake_slack, fake_buddy, bot, FakeAction(name="Deploy"))
    fake_buddy.reset_calls()
    fake_slack.reset()
    status, body = bot.click(block_actions_payload(message, "buddy_open", channel="C123"))
    assert status == 200
    # The click is the first request to reach Bolt (commands are acknowledged ahead of it), and Bolt
    # asks auth.test once, on its first request: that is Bolt's, not the click's.
    assert not fake_buddy.calls() and [call.method for call in fake_slack.calls()] in ([], ["auth.test"])


def test_refresh_follows_again_a_run_whose_watch_timed_out(tmp_path, fake_slack, fake_buddy):
    env = {**ENV, "WATCH_MAX_SECONDS": "3"}
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env).start()
    try:
        action = FakeAction(name="Wait for approval", status="WAITING_FOR_APPLY", finish=None, log=[])
        run = fake_buddy.add_execution(actions=[action], status="INPROGRESS", finish=None)
        bot.command(fake_buddy.html_url("acme", "web", 7, run, action), response_url=fake_slack.response_url())
        [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
        assert "Waiting for approval — approve it in" in shown(post)
        [gave_up] = fake_slack.wait_for("chat.update", timeout=15)
        assert "stopped following this run" in shown(gave_up)

        bot.click(block_actions_payload(as_message(post), "buddy_refresh", channel="C123"))
        fake_slack.wait_for("chat.update", count=2, timeout=15)
        fake_slack.server.wait_until(lambda: watches(bot) == 1, timeout=10)  # followed again
        fake_buddy.change(run, status="SUCCESSFUL", finish=BASE_TIME, log=["approved", "done"])
        fake_slack.wait_for("files.completeUploadExternal", timeout=15)
        updates = fake_slack.calls("chat.update")
        assert len(updates) == 3 and "SUCCESSFUL" in shown(updates[-1])
    finally:
        bot.stop()


def test_refresh_over_socket_mode(tmp_path, fake_buddy):
    with FakeSlackSocketMode() as slack:
        bot = BotProcess(tmp_path, slack_url=slack.url, buddy_url=fake_buddy.url,
                         env={"SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": ""})
        bot.start(ready=lambda: bool(slack._sockets))
        try:
            action = FakeAction(name="Socket deploy", status="FAILED")
            run = fake_buddy.add_execution(actions=[action])
            url = fake_buddy.html_url("acme", "web", 7, run, action)
            command = dict(parse_qsl(slash_command_body(url, response_url=slack.response_url())))
            slack.wait_ack(slack.send("slash_commands", command, accepts_response_payload=True))
            [post] = slack.wait_for("chat.postMessage", timeout=15)
            fake_buddy.change(run, status="SUCCESSFUL")
            click = block_actions_payload(as_message(post), "buddy_refresh", channel="C123")
            slack.wait_ack(slack.send("interactive", click, accepts_response_payload=True))
            [update] = slack.wait_for("chat.update", timeout=15)
            assert update.params["ts"] == post.response["ts"] and "SUCCESSFUL" in shown(update)
        finally:
            bot.stop()
