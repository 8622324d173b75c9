"""Link unfurls: a pasted Buddy link gets one ``chat.unfurl`` with a compact preview, keyed by the URL
exactly as Slack sent it, only for runs the bot may read, and no thread reply on top of it."""

from __future__ import annotations

import json

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.slack import BOT_USER_ID, FakeSlack


@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    env = {"BUDDY_WORKSPACES": "acme"}
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env).start()
    yield process
    process.stop()


def approved_run(fake_buddy: FakeBuddy) -> tuple[str, str]:
    """An approved deployment; returns its action link and its execution link."""
    action = FakeAction(name="Deploy to production", approver_id=4, approval_date=BASE_TIME,
                        outputted_variables=[{"key": "BUDDY_APPROVING_ACTOR", "value": "Mike"}])
    run = fake_buddy.add_execution(actions=[action], branch="main")
    return fake_buddy.html_url("acme", "web", 7, run, action), fake_buddy.html_url("acme", "web", 7, run)


def link_shared(*urls: str, channel: str = "C100", ts: str = "1700002000.000100", **extra) -> dict:
    return {"type": "link_shared", "channel": channel, "user": "U1", "message_ts": ts, "thread_ts": None,
            "links": [{"domain": url.split("/")[2], "url": url} for url in urls], "source": "conversations_history",
            "unfurl_id": f"C100.{ts}.abc", "is_bot_user_member": True, "event_ts": ts, **extra}


def test_a_pasted_run_link_gets_one_unfurl_keyed_by_the_url_as_sent(bot, fake_slack, fake_buddy):
    action_url, _ = approved_run(fake_buddy)
    pasted = action_url + "&tab=logs"  # Slack's key is the link as pasted, not the bot's own form of it
    assert bot.event(link_shared(pasted))[0] == 200
    [unfurl] = fake_slack.wait_for("chat.unfurl", timeout=15)
    assert (unfurl.params["channel"], unfurl.params["ts"]) == ("C100", "1700002000.000100")
    assert list(unfurl.params["unfurls"]) == [pasted]
    preview = json.dumps(unfurl.params["unfurls"][pasted], ensure_ascii=False)
    for expected in ("Deploy to production", "Successful", "`main`", "approved by Mike", "2025-05-28"):
        assert expected in preview, expected


def test_only_runs_the_bot_may_read_are_unfurled(bot, fake_slack, fake_buddy):
    action_url, execution_url = approved_run(fake_buddy)
    refused = "https://app.buddy.works/other/web/pipelines/pipeline/7/execution/1"
    project = "https://app.buddy.works/acme/web"
    stranger = "https://buddy.example.net/acme/web/pipelines/pipeline/7/execution/1"
    bot.event(link_shared(refused, project, stranger))  # nothing to unfurl: no call at all
    bot.event(link_shared(refused, execution_url, ts="1700002000.000200"))
    [unfurl] = fake_slack.wait_for("chat.unfurl", timeout=15)
    assert list(unfurl.params["unfurls"]) == [execution_url] and unfurl.params["ts"] == "1700002000.000200"
    assert all("/other/" not in call.path for call in fake_buddy.calls())


def test_a_link_still_in_the_composer_is_unfurled_by_its_unfurl_id(bot, fake_slack, fake_buddy):
    action_url, _ = approved_run(fake_buddy)
    bot.event(link_shared(action_url, channel="COMPOSER", ts="U1-9f3c", source="composer", unfurl_id="U1-9f3c-unfurl"))
    [unfurl] = fake_slack.wait_for("chat.unfurl", timeout=15)
    assert (unfurl.params["unfurl_id"], unfurl.params["source"]) == ("U1-9f3c-unfurl", "composer")
    assert "channel" not in unfurl.params and list(unfurl.params["unfurls"]) == [action_url]


def test_a_person_pasting_a_link_gets_the_unfurl_and_no_thread_reply(bot, fake_slack, fake_buddy):
    action_url, _ = approved_run(fake_buddy)
    message = {"type": "message", "user": "U1", "text": f"did this deploy go out? <{action_url}>",
               "ts": "1700002100.000100", "channel": "C100", "channel_type": "channel"}
    bot.event(message)
    bot.event(link_shared(action_url, ts="1700002100.000100"))
    fake_slack.wait_for("chat.unfurl", timeout=15)
    marker = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER_ID}> help", "ts": "1700002100.000200",
              "channel": "C100"}
    bot.event(marker)
    [reply] = fake_slack.wait_for("chat.postMessage", timeout=10)  # the help reply, and nothing else
    assert reply.params["thread_ts"] == "1700002100.000200"
    assert not fake_slack.calls("files.completeUploadExternal")


def test_a_link_sent_to_the_bot_in_a_dm_gets_the_answer_not_a_preview(bot, fake_slack, fake_buddy):
    action_url, _ = approved_run(fake_buddy)
    bot.event(link_shared(action_url, channel="D555", ts="1700002200.000100"))
    bot.event({"type": "message", "user": "U1", "text": f"<{action_url}>", "ts": "1700002200.000100",
               "channel": "D555", "channel_type": "im"})
    [answer] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert answer.params["channel"] == "D555" and "Deploy to production" in json.dumps(answer.params["blocks"])
    # A DM between two people still gets previews: the bot is not a member there.
    bot.event(link_shared(action_url, channel="D777", ts="1700002200.000200", is_bot_user_member=False))
    [unfurl] = fake_slack.wait_for("chat.unfurl", timeout=15)
    assert unfurl.params["channel"] == "D777"
