"""Whatever reaches the bot's HTTP endpoint, no listener lets an exception turn into a 500: the
person gets an answer (or, for what nobody asked, silence), and the bot keeps serving."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from bot.render import block_kit_violations
from tests.fakes.bot_process import SIGNING_SECRET
from tests.fakes.signing import post_signed
from tests.faults.driver import Person, seed, unique, unique_ts, visible_text
from tests.render.helpers import mrkdwn_texts

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(urlencode({"payload": "{not json"}), FORM, id="interactive-payload-not-json"),
        pytest.param(urlencode({"payload": "[1, 2]"}), FORM, id="interactive-payload-a-list"),
        pytest.param("{not json", JSON, id="event-body-not-json"),
        pytest.param("[1]", JSON, id="event-body-a-list"),
    ],
)
def test_a_body_bolt_cannot_parse_gets_400_and_the_bot_keeps_serving(person: Person, body: str, content_type: str):
    status, text = post_signed(person.bot.events_url, body, SIGNING_SECRET, content_type=content_type)
    assert status == 400 and "Traceback" not in text
    assert person.bot.healthy()
    person.settle(person.channel)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"type": "message"}, id="message-without-anything"),
        pytest.param({"type": "message", "channel": "CHANNEL", "text": "https://app.buddy.works/a/b/pipelines/pipeline/1"},
                     id="message-without-ts"),
        pytest.param({"type": "app_mention", "text": "hello", "user": "U1"}, id="mention-without-channel"),
        pytest.param({"type": "app_mention", "channel": "CHANNEL", "user": "U1"}, id="mention-without-ts"),
        pytest.param({"type": "link_shared", "channel": "CHANNEL", "links": "not a list"}, id="link_shared-links-not-a-list"),
        pytest.param({"type": "message", "subtype": "message_changed", "channel": "CHANNEL", "ts": "1.2"}, id="an-edit"),
    ],
)
def test_events_missing_fields_get_200_and_silence(person: Person, event: dict):
    logged_before = len(person.bot.log())
    status = person.event({key: person.channel if value == "CHANNEL" else value for key, value in event.items()})
    assert status == 200
    person.settle(person.channel)
    assert len(person.posts(person.channel)) == 1  # the settle marker's reply, nothing else
    assert not person.buddy.calls()
    assert "Traceback" not in person.bot.log()[logged_before:]


def test_buddy_notification_with_text_null_is_still_answered_from_its_attachment(person: Person):
    run = seed(person.buddy)
    channel = unique("C")
    ts = person.message(None, channel=channel, subtype="bot_message", bot_id="BBUDDY",
                        attachments=[{"fallback": "Failed", "fields": [{"title": "Run", "value": f"<{run.execution_url}|#1>"}]}])
    [post] = person.wait_posts(channel, thread_ts=ts)
    assert "Deploy" in visible_text(post.params)


@pytest.mark.parametrize("kind", ["mention", "dm"])
def test_mention_or_dm_with_text_null_gets_the_help(person: Person, kind: str):
    channel = unique("C" if kind == "mention" else "D")
    if kind == "mention":
        ts = unique_ts()
        assert person.event({"type": "app_mention", "user": "U1", "text": None, "ts": ts, "channel": channel}) == 200
    else:
        ts = person.message(None, channel=channel)
    [reply] = person.wait_posts(channel, thread_ts=ts)
    assert reply.params["text"] == "How to use the Buddy bot"


WILD_TEXT = [
    pytest.param("x" * 200_000, id="200k-characters"),
    pytest.param("🚀 ünïcödé 漢字 \u202eevil\u202c", id="unicode-and-bidi"),
    pytest.param("\x00\x01\x07\x1b[31mred\x1b[0m\x7f", id="control-characters"),
    pytest.param("<!channel> <!here> <@U0123> <https://evil.example|click>", id="mentions-and-links"),
    pytest.param("&amp; &lt; ``` *bold* _it_", id="markup"),
]


@pytest.mark.parametrize("text", WILD_TEXT)
def test_slash_command_with_wild_text_is_answered_with_a_clean_notice(person: Person, text: str):
    slash = person.slash(text)
    assert slash.status == 200
    assert isinstance(slash.ack, dict), slash.ack
    assert block_kit_violations(slash.ack) == []
    shown = slash.ack_text
    assert "I found no Buddy run in" in shown
    assert not CONTROL.search(shown)
    assert not re.search(r"<[!@#]|<https?:", shown)  # nothing the person typed becomes a mention or a link
    assert not person.buddy.calls()


@pytest.mark.parametrize("text", WILD_TEXT)
def test_mention_with_wild_text_is_answered_in_its_thread(person: Person, text: str):
    channel = unique("C")
    ts = person.mention(text, channel=channel)
    [reply] = person.wait_posts(channel, thread_ts=ts)
    assert "I found no Buddy run in that" in visible_text(reply.params)


def test_ten_thousand_links_answer_the_first_five_and_say_how_many_were_skipped(person: Person):
    runs = [seed(person.buddy) for _ in range(5)]
    links = [run.numeric_execution_url for run in runs]
    links += [f"https://app.buddy.works/acme/web/pipelines/pipeline/9{i:05d}/execution/1" for i in range(10_000 - 5)]
    channel = unique("C")
    slash = person.slash(" ".join(links), channel=channel)
    assert slash.status == 200 and "Looking up 5 Buddy runs" in slash.ack_text
    posts = person.wait_posts(channel, 5)
    assert len(posts) == 5
    [note] = person.ephemeral(slash)
    assert "9995 more link(s) skipped: I answer at most 5 per message." in visible_text(note)
    assert {c.path.split("/")[6] for c in person.buddy.calls()} == {str(run.pipeline_id) for run in runs}


EVIL = "<!channel> <!here> <@U0EVIL> <https://evil.example|click here>"
# What the bot itself may put in angle brackets: dates, links to the run's known addresses, the requester.
OUR_MARKUP = re.compile(r"<!date\^[^<>]*>|<https://(?:app\.buddy\.works|github\.com)/[^<>|]*\|[^<>]*>|<@U123>")


@pytest.mark.parametrize("upload_fails", [False, True], ids=["summary", "summary-and-inline-log"])
def test_buddy_text_with_mentions_and_links_arrives_as_plain_text(person: Person, upload_fails: bool):
    run = seed(person.buddy, name=f"Deploy {EVIL}", status="FAILED", error_message=f"boom {EVIL}",
               log=[f"line {i} {EVIL}" for i in range(30)],
               passed_variables=[{"key": f"NOTE {EVIL}", "value": EVIL}], outputted_variables=[{"key": "OUT", "value": EVIL}])
    channel = unique("C")
    if upload_fails:
        person.slack.fail("files.completeUploadExternal", "channel_not_found")
    person.slash(run.action_url, channel=channel)
    posts = person.wait_posts(channel, 2 if upload_fails else 1)
    if not upload_fails:
        person.wait_uploads(channel)
    for post in posts:
        parsed = "\n".join(mrkdwn_texts(post.params))  # what Slack reads for mentions and links
        assert "&lt;!channel&gt;" in parsed
        leftover = OUR_MARKUP.sub("", parsed)
        assert "<" not in leftover and ">" not in leftover, leftover[:500]
