"""The bot in Socket Mode (SLACK_APP_TOKEN set): the same listeners, driven over a WebSocket."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.signing import event_callback_body, slash_command_body
from tests.fakes.slack import BOT_USER_ID
from tests.fakes.socket_mode import FakeSlackSocketMode


@pytest.fixture
def socket_slack():
    with FakeSlackSocketMode() as fake:
        yield fake


@pytest.fixture
def bot(tmp_path, socket_slack, fake_buddy):
    process = BotProcess(tmp_path, slack_url=socket_slack.url, buddy_url=fake_buddy.url,
                         env={"SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": ""})
    process.start(ready=lambda: bool(socket_slack._sockets))
    yield process
    process.stop()


def test_slash_command_and_mention_over_socket_mode(bot, socket_slack, fake_buddy: FakeBuddy):
    action = FakeAction(name="Socket deploy", log=["one", "two"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)

    command = dict(parse_qsl(slash_command_body(url, response_url=socket_slack.response_url())))
    envelope = socket_slack.send("slash_commands", command, accepts_response_payload=True)
    ack = socket_slack.wait_ack(envelope)
    assert "Looking up" in json.dumps(ack.get("payload", {}))
    [post] = socket_slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["channel"] == "C123" and "Socket deploy" in json.dumps(post.params["blocks"])
    socket_slack.wait_for("files.completeUploadExternal", timeout=10)

    mention = {"type": "app_mention", "user": "U5", "text": f"<@{BOT_USER_ID}> {url}", "ts": "1700000900.000100",
               "channel": "C900", "event_ts": "1700000900.000100"}
    socket_slack.wait_ack(socket_slack.send("events_api", json.loads(event_callback_body(mention))))
    posts = socket_slack.wait_for("chat.postMessage", count=2, timeout=15)
    assert posts[1].params["thread_ts"] == "1700000900.000100"
