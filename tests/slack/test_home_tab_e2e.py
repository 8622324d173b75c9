"""The Home tab through the running bot: a signed ``app_home_opened`` → ``views.publish`` on the fake
Slack. A linked person sees Unlink and the followed runs waiting that their own token reads (one it
cannot read is left out), with Approve acting as them; an unlinked person sees Link; Settings only for
an admin; drawn again when a followed run starts waiting and after each click; ten waiting runs then
"and N more", and 100 blocks at most with many subscriptions."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.render.home import (
    HOME_APPROVE_ACTION,
    HOME_LINK_ACTION,
    HOME_REMOVE_ACTION,
    HOME_UNLINK_ACTION,
    MAX_HOME_BLOCKS,
    WORKSPACE_SETTINGS_ACTION,
)
from bot.state.store import StateStore
from bot.subscriptions.store import Mode, SubscriptionStore, Target
from tests.fakes import linked
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import TOKEN as BOT_BUDDY_TOKEN
from tests.fakes.buddy import FakeAction, FakeBuddy, FakeExecution
from tests.fakes.signing import APP_ID, TEAM_ID, VERIFICATION_TOKEN, block_actions_body, post_signed
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until

KEY = Fernet.generate_key().decode()
ANA_TOKEN = "ana-home-token-0123456789abcdef"
SCOPES = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")
CHANNEL = "C_HOME"
ENV = {"TOKEN_ENCRYPTION_KEY": KEY, "WATCH_POLL_SECONDS": "0.3", "WATCH_BACKOFF_MAX_SECONDS": "0.5"}
_ids = itertools.count(1)


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    fake_buddy.add_user(ANA_TOKEN, "Ana Buddy", user_id=201, scopes=SCOPES)
    linked.link(tmp_path / "state.db", KEY, ("UANA", "Ana Buddy", ANA_TOKEN, SCOPES))
    fake_slack.memberships["UANA"] = [CHANNEL]
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=ENV)
    yield process
    process.stop()


def waiting_run(fake_buddy: FakeBuddy, pipeline_id: int = 7) -> FakeExecution:
    gate = FakeAction(name="Approve deploy", type="WAIT_FOR_APPLY", status="WAITING_FOR_APPLY", finish=None, log=[])
    return fake_buddy.add_execution(pipeline_id=pipeline_id, actions=[gate], status="WAITING_FOR_APPLY", finish=None)


def open_home(bot: BotProcess, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": f"{time.time():.6f}"}
    status, _ = bot.event(event)
    assert status == 200


def click_home(bot: BotProcess, user: str, action_id: str, value: str) -> None:
    """What Slack sends for a button on a Home tab: a view container, no channel, no response_url."""
    n = next(_ids)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": f"VH{n:07d}"},
        "trigger_id": f"{n}.{n}.{secrets.token_hex(16)}",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {"id": f"VH{n:07d}", "type": "home", "team_id": TEAM_ID, "app_installed_team_id": TEAM_ID},
        "actions": [{"action_id": action_id, "type": "button", "value": value, "action_ts": f"{time.time():.6f}"}],
    }
    status, _ = post_signed(bot.events_url, block_actions_body(payload), SIGNING_SECRET,
                            content_type="application/x-www-form-urlencoded")
    assert status == 200


def publishes(fake_slack: FakeSlack, user: str) -> list[dict]:
    return [c.params["view"] for c in fake_slack.calls("views.publish") if c.params.get("user_id") == user and c.status == 200]


def buttons(view: dict) -> dict[str, list[str]]:
    """action_id -> the values of its buttons."""
    found: dict[str, list[str]] = {}
    for block in view["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]
        for element in elements:
            if element.get("action_id"):
                found.setdefault(element["action_id"], []).append(element.get("value", ""))
    return found


def latest(fake_slack: FakeSlack, user: str, condition=lambda view: True) -> dict:
    wait_until(lambda: any(condition(v) for v in publishes(fake_slack, user)))
    return [v for v in publishes(fake_slack, user) if condition(v)][-1]


def waiting_pipelines(state_db: Path) -> set[int]:
    with sqlite3.connect(state_db) as db:
        return {row[0] for row in db.execute("SELECT pipeline_id FROM home_waiting_runs")}


def subscribe(state_db: Path, *pipelines: tuple[str, int]) -> list[int]:
    """Subscriptions (channel, pipeline of acme/web) written into the bot's state, as /buddy subscribe would."""

    async def put() -> list[int]:
        state = await StateStore.open(Settings(_env_file=None, state_db=str(state_db)))
        try:
            store = SubscriptionStore(state)
            made = [await store.subscribe(channel, Target("app.buddy.works", "acme", "web", pipeline), branch=None,
                                          mode=Mode.FAILURES, user="UBO") for channel, pipeline in pipelines]
            return [subscription.id for subscription, _ in made]
        finally:
            await state.close()

    return asyncio.run(put())


def test_a_linked_and_an_unlinked_person_approve_unlink_and_redraws(bot, tmp_path, fake_slack, fake_buddy):
    readable, unreadable = waiting_run(fake_buddy, 7), waiting_run(fake_buddy, 8)
    fake_buddy.readers[("acme", "web", 8)] = {BOT_BUDDY_TOKEN}  # Ana's own token may not read pipeline 8
    fake_slack.users["UANA"] = {"is_admin": True}
    # Pipelines with no waiting run: what waits comes from the runs the bot follows below.
    [mine, theirs] = subscribe(tmp_path / "state.db", (CHANNEL, 5), ("C_ELSEWHERE", 9))
    bot.start()

    open_home(bot, "UANA")
    first = latest(fake_slack, "UANA")
    assert HOME_UNLINK_ACTION in buttons(first) and HOME_LINK_ACTION not in buttons(first)
    assert WORKSPACE_SETTINGS_ACTION in buttons(first)  # an admin
    assert HOME_APPROVE_ACTION not in buttons(first)  # the bot follows nothing yet
    assert buttons(first)[HOME_REMOVE_ACTION] == [str(mine)]  # her channel's subscription, not another channel's

    open_home(bot, "UBO")
    bo = latest(fake_slack, "UBO")
    assert HOME_LINK_ACTION in buttons(bo) and HOME_UNLINK_ACTION not in buttons(bo)
    assert WORKSPACE_SETTINGS_ACTION not in buttons(bo) and HOME_APPROVE_ACTION not in buttons(bo)

    # Someone asks about both runs in a channel: the bot follows them, and Ana's open tab is drawn again.
    for run, pipeline in ((readable, 7), (unreadable, 8)):
        bot.command(fake_buddy.html_url("acme", "web", pipeline, run), response_url=fake_slack.response_url(),
                    channel_id="C_ASK", user_id="UBO")
    latest(fake_slack, "UANA", lambda v: HOME_APPROVE_ACTION in buttons(v))  # drawn again without her opening it
    wait_until(lambda: waiting_pipelines(tmp_path / "state.db") == {7, 8})  # both followed, both waiting
    drawn = len(publishes(fake_slack, "UANA"))
    open_home(bot, "UANA")
    wait_until(lambda: len(publishes(fake_slack, "UANA")) > drawn)
    shown = publishes(fake_slack, "UANA")[-1]
    text = json.dumps(shown)
    assert fake_buddy.html_url("acme", "web", 7, readable) in text
    assert fake_buddy.html_url("acme", "web", 8, unreadable) not in text  # her token cannot read it
    assert len(buttons(shown)[HOME_APPROVE_ACTION]) == 1

    before = len(publishes(fake_slack, "UANA"))
    click_home(bot, "UANA", HOME_APPROVE_ACTION, buttons(shown)[HOME_APPROVE_ACTION][0])
    approved = latest(fake_slack, "UANA", lambda v: "Approved" in json.dumps(v))
    assert len(publishes(fake_slack, "UANA")) > before
    [patch] = [c for c in fake_buddy.calls("/executions/") if c.method == "PATCH"]
    assert patch.headers["Authorization"] == f"Bearer {ANA_TOKEN}"  # as the person who clicked
    assert patch.path == f"/workspaces/acme/projects/web/pipelines/7/executions/{readable.id}"
    assert HOME_APPROVE_ACTION not in buttons(approved)

    # Remove: her channel's subscription goes; a forged id of a channel she is not in does not.
    click_home(bot, "UANA", HOME_REMOVE_ACTION, str(theirs))
    latest(fake_slack, "UANA", lambda v: "only the subscriptions of channels you are in" in json.dumps(v))
    click_home(bot, "UANA", HOME_REMOVE_ACTION, str(mine))
    removed = latest(fake_slack, "UANA", lambda v: "Removed from" in json.dumps(v))
    assert HOME_REMOVE_ACTION not in buttons(removed)
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert [row[0] for row in db.execute("SELECT id FROM subscriptions")] == [theirs]

    click_home(bot, "UANA", HOME_UNLINK_ACTION, "app.buddy.works")
    unlinked = latest(fake_slack, "UANA", lambda v: "I forgot your Buddy account" in json.dumps(v))
    assert HOME_LINK_ACTION in buttons(unlinked) and HOME_UNLINK_ACTION not in buttons(unlinked)
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT count(*) FROM linked_accounts").fetchone()[0] == 0

    # Link from the Home tab opens the token form (no channel to answer in: the click has none).
    click_home(bot, "UANA", HOME_LINK_ACTION, "app.buddy.works")
    wait_until(lambda: fake_slack.calls("views.open"))
    assert fake_slack.calls("views.open")[-1].params["view"]["callback_id"] == "buddy_link_token"
    log = bot.log()
    assert "Traceback" not in log and ANA_TOKEN not in log


def test_ten_waiting_runs_then_and_n_more_and_100_blocks_with_many_subscriptions(bot, tmp_path, fake_slack, fake_buddy):
    runs = [waiting_run(fake_buddy, 7) for _ in range(12)]
    channels = [f"C{n:05d}" for n in range(150)]
    fake_slack.memberships["UANA"] = channels
    subscribe(tmp_path / "state.db", *((channel, 7) for channel in channels))
    with sqlite3.connect(tmp_path / "state.db") as db:  # as the watcher writes them when it follows these runs
        db.executemany(
            "INSERT INTO home_waiting_runs (team, run_url, host, workspace, project, pipeline_id, execution_id, title, since)"
            " VALUES ('', ?, 'app.buddy.works', 'acme', 'web', 7, ?, 'Deploy', ?)",
            [(fake_buddy.html_url("acme", "web", 7, run), run.id, 1e9 + run.id) for run in runs],
        )
    bot.start()
    open_home(bot, "UANA")
    view = latest(fake_slack, "UANA")
    assert len(buttons(view)[HOME_APPROVE_ACTION]) == 10
    assert "and 2 more waiting" in json.dumps(view)
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    removes = len(buttons(view)[HOME_REMOVE_ACTION])
    assert 0 < removes < 150 and f"and {150 - removes} more" in json.dumps(view["blocks"][-1])


def test_slack_refusing_the_channels_or_the_tab_is_said_or_logged_never_a_traceback(bot, fake_slack):
    fake_slack.fail("users.conversations", "missing_scope")
    bot.start()
    open_home(bot, "UANA")
    view = latest(fake_slack, "UANA")
    assert "Slack did not tell me which channels you are in" in json.dumps(view)
    assert HOME_REMOVE_ACTION not in buttons(view)

    fake_slack.fail("views.publish", "invalid_arguments", times=1)
    before = len(fake_slack.calls("views.publish"))
    click_home(bot, "UANA", HOME_UNLINK_ACTION, "app.buddy.works")
    wait_until(lambda: "could not publish the Home tab of UANA: invalid_arguments" in bot.log())
    assert len(fake_slack.calls("views.publish")) == before + 1  # one try: the next opening draws it again
    open_home(bot, "UANA")
    assert HOME_LINK_ACTION in buttons(latest(fake_slack, "UANA", lambda v: HOME_LINK_ACTION in buttons(v)))
    assert "Traceback" not in bot.log()


def test_a_subscription_removed_with_a_command_redraws_the_tabs_of_those_who_opened_them(bot, tmp_path, fake_slack):
    subscribe(tmp_path / "state.db", (CHANNEL, 7))
    bot.start()
    open_home(bot, "UANA")
    [first] = fake_slack.wait_for("views.publish", 1, timeout=15)
    assert "pipeline 7" in json.dumps(first.params["view"])
    status, ack = bot.command(
        "unsubscribe https://app.buddy.works/acme/web/pipelines/pipeline/7",
        channel_id=CHANNEL,
        user_id="UBO",
        response_url=fake_slack.response_url("unsub"),
    )
    assert status == 200 and "no longer follows" in ack, ack
    [_, redrawn] = fake_slack.wait_for("views.publish", 2, timeout=15)
    assert redrawn.params["user_id"] == "UANA" and "pipeline 7" not in json.dumps(redrawn.params["view"])
