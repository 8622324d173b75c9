"""The Home tab's renderer: Link or Unlink, Approve per waiting run and "and N more", Settings for an
admin only, Buddy's text escaped, within Block Kit's limits and Slack's 100 blocks of a Home view."""

from __future__ import annotations

import json

from bot.home.records import RecentRun, WaitingRun
from bot.home.tab import FailingPipeline, HomeData
from bot.identity.accounts import SlackPerson
from bot.render.home import (
    HOME_APPROVE_ACTION,
    HOME_LINK_ACTION,
    HOME_REMOVE_ACTION,
    HOME_UNLINK_ACTION,
    MAX_HOME_BLOCKS,
    WORKSPACE_SETTINGS_ACTION,
    render_home,
)
from bot.render.limits import block_kit_violations
from bot.subscriptions.store import Mode, Subscription, Target

HOST = "app.buddy.works"
PERSON = SlackPerson("T1", "UANA")


def action_ids(view: dict) -> list[str]:
    found = []
    for block in view["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]
        found += [e["action_id"] for e in elements if e.get("action_id")]
    return found


def violations(view: dict) -> list[str]:
    """Every Block Kit limit broken, but the message's 50 blocks: a Home view has 100."""
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    return [v for v in block_kit_violations(view, require_text=False) if not (v.startswith("message:") and v.endswith("blocks"))]


def waiting(number: int, title: str = "Deploy") -> WaitingRun:
    url = f"https://{HOST}/acme/web/pipelines/pipeline/7/execution/{number}"
    return WaitingRun("", url, HOST, "acme", "web", 7, number, f"{title} #{number}", f"{url}/?actionExecutionId=9", 1e9)


def subscription(number: int) -> Subscription:
    return Subscription(number, f"C{number:05d}", Target(HOST, "acme", "web", number), None, Mode.FAILURES, "UANA", 1e9)


def test_an_unlinked_person_is_offered_link_and_no_settings():
    view = render_home(HomeData(PERSON, [], HOST))
    assert view["type"] == "home"
    assert HOME_LINK_ACTION in action_ids(view) and HOME_UNLINK_ACTION not in action_ids(view)
    assert WORKSPACE_SETTINGS_ACTION not in action_ids(view)
    assert violations(view) == []


def test_a_linked_admin_gets_unlink_approve_and_settings():
    data = HomeData(PERSON, [HOST], HOST, waiting=[waiting(1), waiting(2)], waiting_more=3, can_configure=True)
    view = render_home(data, note=":white_check_mark: Approved.")
    ids = action_ids(view)
    assert HOME_UNLINK_ACTION in ids and HOME_LINK_ACTION not in ids
    assert ids.count(HOME_APPROVE_ACTION) == 2 and WORKSPACE_SETTINGS_ACTION in ids
    approve = next(b["accessory"] for b in view["blocks"] if (b.get("accessory") or {}).get("action_id") == HOME_APPROVE_ACTION)
    assert approve["value"].endswith("actionExecutionId=9")  # Buddy is told which action to approve
    assert "and 3 more waiting" in json.dumps(view)
    assert violations(view) == []


def test_buddys_text_is_escaped():
    run = waiting(1, title="<!channel> *bold* <https://evil.example|click>")
    recent = RecentRun("https://app.buddy.works/a/b/pipelines/pipeline/1/execution/2", "<@U999> & co", "FAILED", 1e9, "asked")
    failing = FailingPipeline(HOST, "acme", "<!here>", 7, "main", "https://app.buddy.works/x")
    text = json.dumps(render_home(HomeData(PERSON, [HOST], HOST, waiting=[run], recent=[recent], failing=[failing])))
    assert "<!channel>" not in text and "<!here>" not in text and "<@U999>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp; co" in text


def test_many_subscriptions_stay_within_100_blocks_with_and_n_more():
    data = HomeData(
        PERSON,
        [HOST],
        HOST,
        waiting=[waiting(n) for n in range(10)],
        waiting_more=5,
        recent=[RecentRun(f"https://{HOST}/a/b/pipelines/pipeline/1/execution/{n}", "r", "FAILED", 1e9, "run") for n in range(10)],
        subscriptions=[subscription(n) for n in range(1, 300)],
        can_configure=True,
    )
    view = render_home(data, note="note")
    assert len(view["blocks"]) == MAX_HOME_BLOCKS
    removes = action_ids(view).count(HOME_REMOVE_ACTION)
    assert 0 < removes < 299
    assert f"and {299 - removes:,} more" in json.dumps(view["blocks"][-1])
    assert violations(view) == []


def test_long_lists_of_recent_and_failing_keep_the_section_limit():
    failing = [FailingPipeline(HOST, "w" * 80, "p" * 80, n, "b" * 90, f"https://{HOST}/{n}") for n in range(200)]
    view = render_home(HomeData(PERSON, [HOST], HOST, failing=failing))
    assert violations(view) == [] and "more" in json.dumps(view)
