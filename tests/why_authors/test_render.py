"""How the author, a flaky action and a claim look in the messages (pure renderers)."""

from __future__ import annotations

import json

from bot.actions.operations import RETRY
from bot.render.actions import ACTION_IDS
from bot.render.announcement import render_announcement, render_author_dm, render_claim_note, with_claim
from bot.render.blocks import CLAIM_ACTION
from bot.render.limits import block_kit_violations
from bot.subscriptions.events import RunEvent
from bot.subscriptions.router import Change
from bot.why.authors import Author
from bot.why.flaky import FlakyAction
from bot.why.model import Why
from tests.why_authors.helpers import PIPELINE, run

RUN_URL = "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/65a1b2c3d4e5f60718293a4b"
ANA = Author("ana", "ana@example.com", "4bc2f8a", slack_user="U0ANA")


def event(status: str, **revision: object) -> RunEvent:
    execution = run(12, (2, status), html_url=RUN_URL)
    if revision:
        execution = run(12, (2, status), html_url=RUN_URL, to_revision={"revision": "4bc2f8a1d3", **revision})
    return RunEvent(PIPELINE, RUN_URL, execution, "webhook")


def shown(message: dict) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_a_failure_mentions_the_author_and_offers_im_on_it():
    message = render_announcement(event("FAILED"), author=ANA, mention=True)
    assert "<@U0ANA>'s commit `4bc2f8a`" in shown(message)
    assert message["text"].endswith("<@U0ANA>'s commit 4bc2f8a")  # the notification line pings them too
    assert buttons(message) == ["buddy_open", ACTION_IDS[RETRY.name], CLAIM_ACTION]  # a failed run: Retry too (acting from Slack)
    [claim] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == CLAIM_ACTION]
    assert claim["value"] == RUN_URL
    assert block_kit_violations(message) == []


def test_other_messages_name_the_author_without_a_mention():
    for message in (render_announcement(event("SUCCESSFUL"), author=ANA, change=Change.FIXED),
                    render_announcement(event("FAILED"), author=ANA, mention=False)):
        assert "ana's commit `4bc2f8a`" in shown(message)
        assert "<@" not in json.dumps(message)
    assert CLAIM_ACTION not in buttons(render_announcement(event("SUCCESSFUL"), author=ANA))
    # Without the Slack side (the live-status watch), the commit's own name.
    webhook = event("FAILED", author={"title": "Ana <Silva>", "email": "ana@example.com"})
    assert "Ana &lt;Silva&gt;'s commit `4bc2f8a`" in shown(render_announcement(webhook))


def test_a_flaky_failure_says_so():
    flaky = [FlakyAction(2, "Unit tests", times=3, runs=20)]
    message = render_announcement(event("FAILED"), author=ANA, flaky=flaky)
    assert "*Unit tests* · flaky: failed, then passed on retry, 3 times in the last 20 runs" in shown(message)
    assert block_kit_violations(message) == []


def test_the_dm_carries_the_why_open_and_im_on_it():
    why = Why(line_number=42, context=["collecting", "E   AssertionError: boom", "done"], error_start=1, error_end=2,
              tool="pytest", rule="assertion", failed_tests=["test_login"], failed_test_count=1)
    message = render_author_dm(event("FAILED"), ANA, why)
    text = shown(message)
    assert "Your commit `4bc2f8a` broke" in text and "AssertionError: boom" in text and "Why it failed" in text
    assert buttons(message) == ["buddy_open", ACTION_IDS[RETRY.name], CLAIM_ACTION]  # a failed run: Retry too (acting from Slack)
    assert message["text"] == "❌ Your commit 4bc2f8a broke Pipeline 7 #12"
    assert block_kit_violations(message) == []
    assert "Why it failed" not in json.dumps(render_author_dm(event("FAILED"), ANA, None))


def test_a_claimed_message_shows_who_and_loses_the_button_once():
    message = render_announcement(event("FAILED"), author=ANA, mention=True)
    claimed = with_claim(with_claim(message, "U0BOB"), "U0BOB")
    assert buttons(claimed) == ["buddy_open", ACTION_IDS[RETRY.name]]  # the claim button gone; Retry stays
    assert json.dumps(claimed).count("<@U0BOB> is looking into it") == 1
    assert block_kit_violations(claimed) == []
    assert render_claim_note("U0BOB")["text"] == "<@U0BOB> is looking into it"
    assert "<@" not in json.dumps(render_claim_note("<!channel>"))
