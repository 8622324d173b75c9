"""Who may ask, through the running bot: BUDDY_WORKSPACES and SLACK_CHANNELS, hosts the bot never
contacts, and Slack's request signatures. A refused request never costs a Buddy call; whoever asked
(a command, a mention, a DM) is told why, and a link merely posted or unfurled stays silent."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.faults.conftest import FAST
from tests.faults.driver import Person, launch_bot, seed, unique, unique_ts, visible_text
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.signing import event_callback_body, post_signed
from tests.fakes.slack import BOT_USER_ID, FakeSlack

ALLOWED = "CALLOWED"
REFUSED_CHANNEL = "CELSEWHERE"
WORKSPACE_REFUSAL = "I'm not allowed to read the Buddy workspace other. Ask the bot's operator (BUDDY_WORKSPACES) or a workspace admin (Settings, on my Home tab)."
CHANNEL_REFUSAL = "I'm not set up to answer in this conversation. Ask the bot's operator to add it to SLACK_CHANNELS, or a workspace admin to allow it (Settings, on my Home tab)."


@pytest.fixture(scope="module")
def bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    env = {**FAST, "BUDDY_WORKSPACES": "acme", "SLACK_CHANNELS": f"{ALLOWED},dm"}
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, env) as process:
        yield process


@pytest.fixture(scope="module")
def no_dm_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, {**FAST, "SLACK_CHANNELS": ALLOWED}) as process:
        yield process


def buddy_notification(run_url: str) -> dict:
    """What Buddy's own Slack integration posts besides its text: a bot message, the link in an attachment."""
    return {"subtype": "bot_message", "bot_id": "BBUDDY", "username": "Buddy",
            "attachments": [{"fallback": "Failed", "fields": [{"title": "Execution", "value": f"<{run_url}|#1>"}]}]}


# -- BUDDY_WORKSPACES --------------------------------------------------------------------------


def share_link(person: Person, url: str, channel: str) -> None:
    """Slack's ``link_shared``: someone posted ``url`` and Slack asks for its unfurl."""
    ts = unique_ts()
    event = {"type": "link_shared", "channel": channel, "user": "U777", "message_ts": ts, "source": "conversations_history",
             "links": [{"domain": "app.buddy.works", "url": url}], "event_ts": ts}
    assert person.event(event) == 200


def test_allowed_workspace_in_allowed_channel_is_answered_every_way(person: Person):
    """The control for the refusals below: the same requests, allowed, are answered."""
    run = seed(person.buddy)
    person.slash(run.action_url, channel=ALLOWED)
    [post] = person.wait_posts(ALLOWED)
    assert "Deploy" in visible_text(post.params)
    ts = person.message("Execution failed", channel=ALLOWED, **buddy_notification(run.execution_url))
    person.wait_posts(ALLOWED, thread_ts=ts)
    share_link(person, run.action_url, ALLOWED)
    person.slack.wait_for("chat.unfurl")


def test_slash_command_for_a_refused_workspace_is_told_why_and_buddy_is_not_called(person: Person):
    run = seed(person.buddy, ws="other")
    slash = person.slash(run.action_url, channel=ALLOWED)
    assert slash.status == 200
    assert WORKSPACE_REFUSAL in slash.ack_text
    person.settle(ALLOWED)
    assert not person.shown(slash)
    assert len(person.posts(ALLOWED)) == 1  # the settle marker's reply, nothing else
    assert not person.buddy.calls()


@pytest.mark.parametrize("where", ["mention", "dm"])
def test_mention_or_dm_for_a_refused_workspace_is_told_why_in_the_thread(person: Person, where: str):
    run = seed(person.buddy, ws="other")
    if where == "mention":
        channel, ts = ALLOWED, person.mention(f"<{run.action_url}>", channel=ALLOWED)
    else:
        channel = unique("D")
        ts = person.message(f"<{run.action_url}>", channel=channel)
    [reply] = person.wait_posts(channel, thread_ts=ts)
    assert WORKSPACE_REFUSAL in visible_text(reply.params)
    assert not person.buddy.calls()


def test_buddy_notification_or_unfurl_of_a_refused_workspace_stays_silent(person: Person):
    run = seed(person.buddy, ws="other")
    person.message("Execution failed", channel=ALLOWED, **buddy_notification(run.execution_url))
    share_link(person, run.action_url, ALLOWED)
    person.settle(ALLOWED)
    assert len(person.posts(ALLOWED)) == 1  # the settle marker's reply, nothing else
    assert not person.slack.calls("chat.unfurl")
    assert not person.buddy.calls()


# -- SLACK_CHANNELS ----------------------------------------------------------------------------


def test_slash_command_in_a_refused_channel_is_told_why_and_buddy_is_not_called(person: Person):
    run = seed(person.buddy)
    slash = person.slash(run.action_url, channel=REFUSED_CHANNEL)
    assert slash.status == 200 and CHANNEL_REFUSAL in slash.ack_text
    person.settle(REFUSED_CHANNEL)
    assert not person.shown(slash)
    assert not person.buddy.calls()


def test_mention_in_a_refused_channel_is_told_why_and_a_notification_or_unfurl_there_stays_silent(person: Person):
    run = seed(person.buddy)
    person.message("Execution failed", channel=REFUSED_CHANNEL, **buddy_notification(run.execution_url))
    share_link(person, run.action_url, REFUSED_CHANNEL)
    ts = person.mention(f"<{run.action_url}>", channel=REFUSED_CHANNEL)
    [reply] = person.wait_posts(REFUSED_CHANNEL, thread_ts=ts)
    assert CHANNEL_REFUSAL in visible_text(reply.params)
    person.settle(REFUSED_CHANNEL)
    assert len(person.posts(REFUSED_CHANNEL)) == 2  # the refusal and the settle marker's reply
    assert not person.slack.calls("chat.unfurl")
    assert not person.buddy.calls()


def test_dm_is_answered_when_dm_is_allowed(person: Person):
    run = seed(person.buddy)
    channel = unique("D")
    ts = person.message(run.ids, channel=channel)
    [post] = person.wait_posts(channel, thread_ts=ts)
    assert "Deploy" in visible_text(post.params)


def test_dm_is_refused_politely_when_dms_are_not_allowed(no_dm_bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    person = Person(no_dm_bot, fake_slack, fake_buddy)
    fake_buddy.reset_calls()
    run = seed(fake_buddy)
    channel = unique("D")
    ts = person.message(run.ids, channel=channel)
    [reply] = person.wait_posts(channel, thread_ts=ts)
    assert CHANNEL_REFUSAL in visible_text(reply.params)
    slash = person.slash(run.ids, channel=unique("D"))
    assert CHANNEL_REFUSAL in slash.ack_text
    assert not fake_buddy.calls()


# -- hosts the bot never contacts --------------------------------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[FakeBuddy]:
    """Another server shaped like Buddy, on a host the bot is not set up for."""
    fake = FakeBuddy().start()
    fake.add_execution("acme", "web", 7)
    yield fake
    fake.stop()


def test_links_to_other_hosts_never_make_a_request(person: Person, elsewhere: FakeBuddy):
    links = [
        f"{elsewhere.url}/acme/web/pipelines/pipeline/7/execution/1",
        "https://app.buddy.works.evil.example/acme/web/pipelines/pipeline/7/execution/1",
        "https://evil.example/app.buddy.works/acme/web/pipelines/pipeline/7/execution/1",
        "https://buddy.works/acme/web/pipelines/pipeline/7/execution/1",
    ]
    text = " ".join(f"<{link}>" for link in links)
    slash = person.slash(text, channel=ALLOWED)
    assert "I found no Buddy run" in slash.ack_text
    ts = person.mention(text, channel=ALLOWED)
    [reply] = person.wait_posts(ALLOWED, thread_ts=ts)
    assert "I found no Buddy run" in visible_text(reply.params)
    person.message("Execution failed", channel=ALLOWED, **buddy_notification(links[0]))
    person.settle(ALLOWED)
    assert not elsewhere.calls() and not person.buddy.calls()


# -- request signatures ------------------------------------------------------------------------


def _unsigned(url: str, body: str) -> int:
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("case", ["wrong-signature", "stale-timestamp", "unsigned"])
def test_event_with_a_bad_signature_gets_401_and_does_nothing(person: Person, case: str):
    run = seed(person.buddy)
    ts = unique_ts()
    event = {"type": "app_mention", "user": "U777", "text": f"<@{BOT_USER_ID}> <{run.action_url}>", "ts": ts,
             "channel": ALLOWED, "event_ts": ts}
    body = event_callback_body(event)
    if case == "unsigned":
        status = _unsigned(person.bot.events_url, body)
    else:
        secret, stamp = ("not-the-secret", None) if case == "wrong-signature" else (SIGNING_SECRET, int(time.time()) - 5 * 60 - 30)
        status, _ = post_signed(person.bot.events_url, body, secret, content_type="application/json", timestamp=stamp)
    assert status == 401
    person.settle(ALLOWED)
    assert not person.posts(ALLOWED, thread_ts=ts)
    assert not person.buddy.calls()


def test_signed_request_just_inside_five_minutes_is_accepted(person: Person):
    ts = unique_ts()
    event = {"type": "app_mention", "user": "U777", "text": f"<@{BOT_USER_ID}> help", "ts": ts, "channel": ALLOWED, "event_ts": ts}
    status, _ = post_signed(person.bot.events_url, event_callback_body(event), SIGNING_SECRET,
                            content_type="application/json", timestamp=int(time.time()) - 4 * 60)
    assert status == 200
    [reply] = person.wait_posts(ALLOWED, thread_ts=ts)
    assert reply.params["text"] == "How to use the Buddy bot"
