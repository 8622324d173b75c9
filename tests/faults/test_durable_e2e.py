"""Work the bot accepted is answered exactly once: a validly signed command body delivered again and
again (a proxy retrying, a replay) is answered once."""

from __future__ import annotations

from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.signing import post_signed, slash_command_body
from tests.fakes.slack import FakeSlack


def test_one_signed_command_body_delivered_ten_times_is_answered_once(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    action = FakeAction(name="Build", status="SUCCESSFUL", log=["ok"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url).start()
    try:
        body = slash_command_body(url, response_url=fake_slack.response_url())
        statuses = [post_signed(bot.events_url, body, SIGNING_SECRET, content_type="application/x-www-form-urlencoded")[0]
                    for _ in range(10)]
        assert statuses == [200] * 10
        fake_slack.wait_for("files.completeUploadExternal", timeout=15)
        # Another body (a new trigger_id) for the same run is a new request, answered: the first
        # ten have all been handled by the time its answer is out.
        bot.command(url, response_url=fake_slack.response_url())
        fake_slack.wait_for("files.completeUploadExternal", count=2, timeout=15)
        assert len(fake_slack.calls("chat.postMessage")) == 2
        assert "redelivery of a request already taken" in bot.log()
    finally:
        bot.stop()
