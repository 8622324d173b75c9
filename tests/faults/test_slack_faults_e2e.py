"""Slack refusing or failing, through the running bot: the person always gets the answer somewhere,
and the log tail always comes with it."""

from __future__ import annotations

import pytest

from tests.faults.driver import Person, seed, unique, visible_text
from tests.fakes.slack import UPLOAD


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_cannot_post_in_the_channel_the_answer_goes_to_response_url_with_the_log_inline(person: Person, error: str):
    run = seed(person.buddy)
    channel = unique("CPRIV")
    person.slack.fail("chat.postMessage", error, channel=channel)
    slash = person.slash(run.action_url, channel=channel)
    text = person.told(slash)
    assert "Deploy" in text and "SUCCESSFUL" in text
    assert "line 40" in text and "line 21" in text and "line 20\n" not in text  # the tail, inline
    assert person.ephemeral(slash)[0]["response_type"] == "ephemeral"
    assert not person.slack.calls("files.getUploadURLExternal") and not person.slack.calls("conversations.open")


def test_response_url_refusing_too_the_answer_comes_as_a_dm(person: Person):
    run = seed(person.buddy)
    channel, user, name = unique("CPRIV"), unique("U"), unique("r")
    person.slack.fail("chat.postMessage", "not_in_channel", channel=channel)
    person.slack.fail(f"response_url:{name}", "expired_url", status=404)
    person.slash(run.action_url, channel=channel, user=user, name=name)
    dm = "D" + user[1:]
    [post] = person.wait_posts(dm)
    assert "Deploy" in visible_text(post.params)
    [upload] = person.wait_uploads(dm)
    assert upload["thread_ts"] == post.response["ts"] and upload["content"].endswith("line 40")
    [opened] = person.slack.calls("conversations.open")
    assert opened.params["users"] == user


def test_mention_where_the_bot_cannot_post_gets_the_answer_as_a_dm(person: Person):
    run = seed(person.buddy)
    channel, user = unique("CPRIV"), unique("U")
    person.slack.fail("chat.postMessage", "not_in_channel", channel=channel)
    person.mention(f"<{run.action_url}>", channel=channel, user=user)
    dm = "D" + user[1:]
    [post] = person.wait_posts(dm)
    assert "Deploy" in visible_text(post.params)
    [upload] = person.wait_uploads(dm)
    assert upload["content"].endswith("line 40")


@pytest.mark.parametrize(
    ("method", "error", "status"),
    [
        pytest.param("files.completeUploadExternal", "channel_not_found", None, id="channel_not_found-on-upload"),
        pytest.param(UPLOAD, "upload failed", 500, id="upload-url-step-500"),
        pytest.param("files.getUploadURLExternal", "snippet_too_large", None, id="snippet_too_large"),
    ],
)
def test_failed_snippet_upload_puts_the_log_tail_inline_in_the_thread(person: Person, method: str, error: str, status):
    run = seed(person.buddy)
    channel = unique("C")
    person.slack.fail(method, error, status=status)
    person.slash(run.action_url, channel=channel)
    summary, inline = person.wait_posts(channel, 2)
    assert inline.params["thread_ts"] == summary.response["ts"]
    text = visible_text(inline.params)
    assert "```" in text and "line 40" in text and "line 21" in text
    assert not person.uploads(channel)


def test_ratelimited_post_is_sent_again_after_retry_after_exactly_once(person: Person):
    run = seed(person.buddy)
    channel = unique("C")
    person.slack.ratelimit("chat.postMessage", retry_after=1, channel=channel, times=1)
    person.slash(run.action_url, channel=channel)
    [post] = person.wait_posts(channel)
    tries = [c for c in person.slack.calls("chat.postMessage") if c.channel == channel]
    assert [c.status for c in tries] == [429, 200]
    assert tries[1].time - tries[0].time >= 0.9  # Slack's Retry-After was respected
    person.wait_uploads(channel)
    assert len(person.posts(channel)) == 1


def test_slack_5xx_on_post_is_retried_and_posted_once(person: Person):
    run = seed(person.buddy)
    channel = unique("C")
    person.slack.fail("chat.postMessage", "internal_error", channel=channel, status=500, times=1)
    person.slash(run.action_url, channel=channel)
    person.wait_posts(channel)
    person.wait_uploads(channel)
    tries = [c for c in person.slack.calls("chat.postMessage") if c.channel == channel]
    assert [c.status for c in tries] == [500, 200]


def test_slack_refusing_the_post_for_another_reason_is_said_to_the_person(person: Person):
    run = seed(person.buddy)
    channel = unique("C")
    person.slack.fail("chat.postMessage", "fatal_error", channel=channel)
    slash = person.slash(run.action_url, channel=channel)
    text = person.told(slash)
    assert "I could not post the answer here (fatal_error)" in text
    assert "Try again in a minute" in text


def test_no_way_to_reach_the_person_in_the_channel_says_to_invite_the_bot(person: Person):
    run = seed(person.buddy)
    channel, user, name = unique("CPRIV"), unique("U"), unique("r")
    person.slack.fail("chat.postMessage", "not_in_channel", channel=channel)
    person.slack.fail("conversations.open", "cannot_dm_bot")
    person.slack.fail(f"response_url:{name}", "expired_url", status=404, times=1)
    slash = person.slash(run.action_url, channel=channel, user=user, name=name)
    text = person.told(slash)  # the response_url's second use, after its first was refused
    assert "I could not post the answer here (cannot_dm_bot). Invite me with `/invite @buddy`" in text
