"""Socket Mode with BUDDY_WEBHOOK_TOKEN: the HTTP server runs beside the socket, for Buddy's webhooks
(and /health) only: Slack requests are not taken there, since Socket Mode checks no signatures."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy_webhooks import execution_payload, post_webhook
from tests.fakes.signing import slash_command_body
from tests.fakes.socket_mode import FakeSlackSocketMode
from tests.subscriptions.test_subscriptions_e2e import PIPELINE_URL, WEBHOOK_TOKEN, new_run


@pytest.fixture
def socket_slack():
    with FakeSlackSocketMode() as fake:
        yield fake


def test_webhooks_are_received_beside_socket_mode(tmp_path, socket_slack, fake_buddy):
    fake_buddy.pipelines[("acme", "web", 7)] = []
    bot = BotProcess(tmp_path, slack_url=socket_slack.url, buddy_url=fake_buddy.url,
                     env={"SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": "", "BUDDY_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                          "SUBSCRIPTION_POLL_SECONDS": "0", "SLACK_CHANNEL_PACING_S": "0.01"})
    bot.start(ready=lambda: bool(socket_slack._sockets) and bot.healthy())
    try:
        command = dict(parse_qsl(slash_command_body(f"subscribe {PIPELINE_URL}", channel_id="CS",
                                                    response_url=socket_slack.response_url())))
        socket_slack.wait_ack(socket_slack.send("slash_commands", command, accepts_response_payload=True))
        [confirmation] = socket_slack.wait_for("chat.postEphemeral", timeout=15)
        reply = json.dumps(confirmation.params)
        # No PUBLIC_URL and no polling: the person is told how to add the webhook.
        assert f"/buddy/webhooks/{WEBHOOK_TOKEN}" in reply and "EXECUTION_FINISHED" in reply

        run = new_run(fake_buddy, "FAILED", listed=False)
        assert post_webhook(f"{bot.url}/buddy/webhooks/{WEBHOOK_TOKEN}", execution_payload(fake_buddy, run))[0] == 200
        posts = socket_slack.wait_for("chat.postMessage", 2, timeout=20)
        assert posts[0].params["channel"] == "CS" and "Failed" in posts[0].params["text"]
        assert posts[1].params["thread_ts"] == posts[0].response["ts"]

        assert post_webhook(f"{bot.url}/slack/events", {"type": "url_verification", "challenge": "x"})[0] == 404
    finally:
        bot.stop()
