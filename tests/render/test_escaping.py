"""Text from Buddy never becomes a mention or a link: it arrives in Slack as plain text."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot.buddy.models import Person
from bot.render import inline_log_block, render_log_tail, render_summary, render_unfurl
from bot.render.mrkdwn import esc
from tests.render.helpers import NOW, SECRET_KEY_REGEX, action_execution, mrkdwn_texts, seed_execution, seed_report, text_objects

EVIL = ["<!channel>", "<!here>", "<@U123>", "<https://evil|click>"]
EVIL_TEXT = " ".join(EVIL) + " & more"
# What the renderers may put in mrkdwn themselves: date tokens, links to the seed's known URLs, and
# the requester's mention.
OUR_MARKUP = re.compile(
    r"<!date\^-?\d+\^\{date_short\} \{time\}\|[^<>]*>"
    r"|<https://(?:app\.buddy\.works|github\.com)/[^<>|]*\|[^<>]*>"
    r"|<@UREQUESTER>"
)


def _evil_report():
    action = action_execution(
        action={"name": EVIL_TEXT, "type": EVIL_TEXT},
        status="FAILED",
        error_message=f"boom\n{EVIL_TEXT}",
        passed_variables=[{"key": EVIL_TEXT, "value": EVIL_TEXT}],
        outputted_variables=[{"key": "VERSION", "value": EVIL_TEXT}],
        terminated_by={"name": EVIL_TEXT},
    )
    execution = seed_execution(
        branch={"name": EVIL_TEXT},
        to_revision={"revision": EVIL_TEXT, "message": EVIL_TEXT},
        creator=Person(name=EVIL_TEXT).model_dump(),
        pipeline={"name": EVIL_TEXT},
    )
    return seed_report(
        action=action,
        execution=execution,
        approver_name=EVIL_TEXT,
        log_tail=[EVIL_TEXT, f"\x1b[31m{EVIL_TEXT}\x1b[0m"],
        notes=[EVIL_TEXT],
        ref=dataclasses.replace(seed_report().ref, workspace=EVIL_TEXT, project=EVIL_TEXT),
    )


def _assert_inert(texts: list[str]) -> None:
    for text in texts:
        leftover = OUR_MARKUP.sub("", text)
        assert "<" not in leftover and ">" not in leftover, text
    assert any("&lt;!channel&gt;" in text for text in texts)


def test_summary_escapes_everything_from_buddy() -> None:
    message = render_summary(
        _evil_report(), secret_key_regex=SECRET_KEY_REGEX, requested_by="UREQUESTER", interactive=True, now=NOW
    )
    _assert_inert(mrkdwn_texts(message))
    joined = "\n".join(mrkdwn_texts(message))
    for field in ("*Branch*", "*Revision*", "*Triggered by*", "*Approved by*", "*Terminated by*", "*Error*"):
        assert field in joined
    assert "&lt;https://evil|click&gt; &amp; more = &lt;!channel&gt;" in joined  # a variable line


def test_plain_text_objects_are_not_parsed_so_stay_unescaped() -> None:
    message = render_summary(_evil_report(), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    header = message["blocks"][0]
    assert header["text"]["type"] == "plain_text"
    assert "<!channel>" in header["text"]["text"]  # shown literally: plain_text has no mentions
    assert all(obj.get("verbatim") is True for obj in text_objects(message) if obj["type"] == "mrkdwn")


def test_unfurl_escapes_everything_from_buddy() -> None:
    _assert_inert(mrkdwn_texts(render_unfurl(_evil_report(), secret_key_regex=SECRET_KEY_REGEX)))


def test_inline_log_escapes_log_lines() -> None:
    blocks = inline_log_block(render_log_tail(_evil_report()))
    _assert_inert([blocks[0]["text"]["text"]])


def test_snippet_keeps_log_text_as_it_was() -> None:
    """A file's content is not parsed by Slack, so it is not escaped (escaping would show &lt;)."""
    assert render_log_tail(_evil_report()) == f"{EVIL_TEXT}\n{EVIL_TEXT}"


@pytest.mark.parametrize("requested_by", ["U123|x", "<!channel>", "here", "u123", "U1>", "U" + "1" * 50])
def test_requester_that_is_not_a_user_id_is_left_out(requested_by: str) -> None:
    message = render_summary(seed_report(), secret_key_regex=SECRET_KEY_REGEX, requested_by=requested_by)
    footer = message["blocks"][-2]["elements"][0]["text"]
    assert footer == "buddy / company-website"


def test_escape_is_only_three_characters() -> None:
    assert esc("Tom's \"build\" & <tests> *ok*", 100) == "Tom's \"build\" &amp; &lt;tests&gt; *ok*"


def test_cut_never_leaves_half_an_entity() -> None:
    for limit in range(2, 30):
        cut = esc("&" * 40, limit)
        assert len(cut) <= limit
        assert re.fullmatch(r"(&amp;)*…", cut), cut


def test_unsafe_urls_are_not_linked() -> None:
    action = action_execution(html_url="https://app.buddy.works/x|<!channel>")
    execution = seed_execution(pipeline={"name": "P", "html_url": "javascript:alert(1)"})
    message = render_summary(seed_report(action=action, execution=execution), secret_key_regex=SECRET_KEY_REGEX)
    joined = "\n".join(mrkdwn_texts(message))
    assert "javascript" not in joined
    assert "*Pipeline*\nP" in joined
    assert message["blocks"][-1]["elements"][0]["url"] == seed_report().ref.web_url  # Buddy's link was unsafe
