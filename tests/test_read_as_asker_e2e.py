"""READ_AS_ASKER through the running bot: every read goes with the asker's own linked token, and the
cache never serves one person's answer to another whom Buddy refuses; an unlinked person is asked
to link, privately."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from cryptography.fernet import Fernet

from bot.render.blocks import LINK_ACTION
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import TOKEN as BOT_BUDDY_TOKEN
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.linked import link, unlink
from tests.fakes.signing import TEAM_ID, event_callback_body, post_signed, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until

FORM = "application/x-www-form-urlencoded"
KEY = Fernet.generate_key().decode()
ANA_TOKEN, BO_TOKEN = "ana-personal-token-0123456789", "bo-personal-token-9876543210"




@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    link(tmp_path / "state.db", KEY, ("U_ANA", "ana", ANA_TOKEN, ()), ("U_BO", "bo", BO_TOKEN, ()))
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url,
                         env={"READ_AS_ASKER": "true", "TOKEN_ENCRYPTION_KEY": KEY, "WATCH_POLL_SECONDS": "0.2",
                              "SUBSCRIPTION_POLL_SECONDS": "0.5"})
    process.start()
    yield process
    process.stop()


def ask(bot: BotProcess, fake_slack: FakeSlack, text: str, user: str, channel: str, name: str) -> str:
    """``/buddy <text>``; returns the acknowledgement's body."""
    body = slash_command_body(text, user_id=user, channel_id=channel, response_url=fake_slack.response_url(name))
    status, acknowledgement = post_signed(f"{bot.url}/slack/events", body, SIGNING_SECRET, content_type=FORM)
    assert status == 200
    return acknowledgement


def test_a_run_asked_for_by_a_person_buddy_allows_then_by_one_it_refuses_is_not_served_from_the_cache(
    bot, fake_slack: FakeSlack, fake_buddy: FakeBuddy
):
    fake_buddy.add_user(ANA_TOKEN, "ana")
    fake_buddy.add_user(BO_TOKEN, "bo")
    run = fake_buddy.add_execution(pipeline_id=31, actions=[FakeAction(name="Ship it", status="SUCCESSFUL", log=["shipped"])])
    fake_buddy.readers[("acme", "web", 31)] = {ANA_TOKEN}
    url = fake_buddy.html_url("acme", "web", 31, run)
    fake_buddy.reset_calls()

    ask(bot, fake_slack, url, "U_ANA", "C_ANA", "ana")
    wait_until(lambda: fake_slack.messages("C_ANA"))
    assert "Ship it" in json.dumps(fake_slack.messages("C_ANA")[0]["blocks"])
    assert {c.headers.get("Authorization") for c in fake_buddy.calls("/pipelines/31/")} == {f"Bearer {ANA_TOKEN}"}

    ask(bot, fake_slack, url, "U_BO", "C_BO", "bo")
    wait_until(lambda: fake_slack.responses("bo"))
    refused = json.dumps(fake_slack.responses("bo"))
    assert "Ship it" not in refused and "permission" in refused.lower()
    assert fake_slack.messages("C_BO") == []  # nothing in the channel, cached or not
    bo_calls = [c for c in fake_buddy.calls("/pipelines/31/") if c.headers.get("Authorization") == f"Bearer {BO_TOKEN}"]
    assert bo_calls, "Bo's request must reach Buddy with Bo's own token"
    assert all(c.headers.get("Authorization") != f"Bearer {BOT_BUDDY_TOKEN}" for c in fake_buddy.calls())
    for secret in (ANA_TOKEN, BO_TOKEN):
        assert secret not in bot.log()
        assert all(secret not in json.dumps(c.params) for c in fake_slack.calls())


def test_an_unlinked_person_is_asked_privately_to_link(bot, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    run = fake_buddy.add_execution(pipeline_id=32)
    url = fake_buddy.html_url("acme", "web", 32, run)
    fake_buddy.reset_calls()
    ask(bot, fake_slack, url, "U_CY", "C_CY", "cy")
    wait_until(lambda: fake_slack.responses("cy"))
    [prompt] = fake_slack.responses("cy")
    assert prompt["response_type"] == "ephemeral"
    assert "no Buddy account linked on app.buddy.works" in json.dumps(prompt)
    assert LINK_ACTION in json.dumps(prompt["blocks"])
    assert fake_buddy.calls("/pipelines/32/") == []  # nothing read for someone who is not linked
    assert fake_slack.messages("C_CY") == []

    # A mention: the prompt is an ephemeral message to the person, in the thread, not a reply for all.
    event = {"type": "app_mention", "user": "U_CY", "text": f"<@UBOT> {url}", "ts": "1710000100.000001",
             "channel": "C_CY2", "event_ts": "1710000100.000001", "team": TEAM_ID}
    status, _ = post_signed(f"{bot.url}/slack/events", event_callback_body(event), SIGNING_SECRET,
                            content_type="application/json")
    assert status == 200
    [ephemeral] = fake_slack.wait_for("chat.postEphemeral", predicate=lambda c: c.params.get("channel") == "C_CY2")
    assert ephemeral.params["user"] == "U_CY" and LINK_ACTION in json.dumps(ephemeral.params)
    assert fake_slack.messages("C_CY2") == []


def test_a_followed_run_is_read_with_the_token_of_the_person_who_asked(
    bot, tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy
):
    fake_buddy.add_user(ANA_TOKEN, "ana")
    run = fake_buddy.add_execution(pipeline_id=33, status="INPROGRESS",
                                   actions=[FakeAction(name="Long build", status="INPROGRESS", finish=None)], finish=None)
    fake_buddy.readers[("acme", "web", 33)] = {ANA_TOKEN}
    url = fake_buddy.html_url("acme", "web", 33, run)
    ask(bot, fake_slack, url, "U_ANA", "C_FOLLOW", "follow")
    wait_until(lambda: fake_slack.messages("C_FOLLOW"))
    fake_buddy.reset_calls()
    polls = lambda: [c for c in fake_buddy.calls("/pipelines/33/executions/") if c.path.endswith("/executions/1")]  # noqa: E731
    wait_until(lambda: len(polls()) >= 2)  # polled twice, still going
    assert {c.headers.get("Authorization") for c in fake_buddy.calls("/pipelines/33/")} == {f"Bearer {ANA_TOKEN}"}

    unlink(tmp_path / "state.db", KEY, "U_ANA")
    wait_until(lambda: any("no longer linked" in json.dumps(m) for m in fake_slack.messages("C_FOLLOW")))
    fake_buddy.reset_calls()
    FakeBuddy.change(run, status="SUCCESSFUL")
    assert fake_buddy.calls("/pipelines/33/") == []  # no longer read for anyone




def test_a_channel_can_be_subscribed_only_to_what_the_person_subscribing_may_read(
    bot, fake_slack: FakeSlack, fake_buddy: FakeBuddy
):
    fake_buddy.add_user(ANA_TOKEN, "ana")
    fake_buddy.add_user(BO_TOKEN, "bo")
    fake_buddy.add_execution(pipeline_id=34)
    fake_buddy.readers[("acme", "web", 34)] = {ANA_TOKEN, BOT_BUDDY_TOKEN}  # the bot could read it; Bo may not
    pipeline = "https://app.buddy.works/acme/web/pipelines/pipeline/34"
    told = lambda user: [c for c in fake_slack.calls("chat.postEphemeral") if c.params.get("user") == user]  # noqa: E731
    ask(bot, fake_slack, f"subscribe {pipeline}", "U_BO", "C_SUB", "sub-bo")
    wait_until(lambda: told("U_BO"))
    said = json.dumps(told("U_BO")[0].params)
    assert "can't follow" in said and "This channel follows" not in said
    assert "pipeline 34" not in ask(bot, fake_slack, "subscriptions", "U_BO", "C_SUB", "list-1")

    ask(bot, fake_slack, f"subscribe {pipeline}", "U_ANA", "C_SUB", "sub-ana")
    wait_until(lambda: told("U_ANA"))
    assert "This channel follows" in json.dumps(told("U_ANA")[0].params)
    assert "pipeline 34" in ask(bot, fake_slack, "subscriptions", "U_ANA", "C_SUB", "list-2")

    # Its runs are announced, and a failure's details in the thread are read with Ana's token: she
    # subscribed the channel.
    fake_buddy.reset_calls()
    now = datetime.now(timezone.utc)
    fake_buddy.add_execution(pipeline_id=34, status="FAILED", start=now, finish=now,
                             actions=[FakeAction(name="Broken step", status="FAILED", log=["boom"], start=now, finish=now)])
    wait_until(lambda: any("Broken step" in json.dumps(m) for m in fake_slack.messages("C_SUB") if m.get("thread_ts")))
    assert not any("no Buddy account linked" in json.dumps(m) for m in fake_slack.messages("C_SUB"))
    details = [c for c in fake_buddy.calls("/pipelines/34/executions/") if "/action_executions/" in c.path]
    assert details and {c.headers.get("Authorization") for c in details} == {f"Bearer {ANA_TOKEN}"}
