"""Installed through Slack's OAuth into several workspaces: the bot as a real process, installs walked
through as a browser walks them (the bot's pages, the fake Slack's authorize page), signed requests
from each workspace, and every Slack call checked for the bot token it carried."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.signing import block_actions_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_oauth import CLIENT_SECRET
from tests.slack.install.flow import (
    ENCRYPTION_KEY,
    allow,
    form,
    get,
    install,
    oauth_bot,
    send_event,
    sql,
    start_install,
    state_env,
    submit,
)

PIPELINE_URL = "https://app.buddy.works/acme/web/pipelines/pipeline/7"


def finished_run(fake_buddy: FakeBuddy) -> str:
    run = fake_buddy.add_execution(actions=[FakeAction(name="Build", log=["compiling", "done"])], branch="main")
    return fake_buddy.html_url("acme", "web", 7, run, run.actions[0])


def tokens_in(fake_slack: FakeSlack, channel: str) -> set[str | None]:
    return {call.token for call in fake_slack.calls() if call.channel == channel}


def command(bot: BotProcess, fake_slack: FakeSlack, text: str, *, team: str, channel: str, **kw) -> str:
    status, ack = bot.command(text, team_id=team, channel_id=channel, response_url=fake_slack.response_url(channel), **kw)
    assert status == 200, ack
    return ack


def wait_until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {check()}")


def test_two_workspaces_are_each_answered_with_their_own_bot_token(tmp_path, fake_slack, fake_buddy, state_settings):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy, **state_env(state_settings)).start()
    try:
        first = install(bot, fake_slack, "T1", team_name="First")
        second = install(bot, fake_slack, "T2", team_name="Second")
        assert first.bot_token != second.bot_token
        # Each token was checked with auth.test when its installation was saved.
        assert {c.token for c in fake_slack.calls("auth.test")} == {first.bot_token, second.bot_token}
        run = finished_run(fake_buddy)
        command(bot, fake_slack, run, team="T1", channel="C1")
        command(bot, fake_slack, run, team="T2", channel="C2")
        fake_slack.wait_for("files.completeUploadExternal", 2, timeout=20)
        [one] = [c for c in fake_slack.calls("chat.postMessage") if c.channel == "C1"]
        [two] = [c for c in fake_slack.calls("chat.postMessage") if c.channel == "C2"]
        assert (one.token, two.token) == (first.bot_token, second.bot_token)
        # A button click, and a mention, are answered the same way.
        message = {"ts": two.response["ts"], "text": two.params["text"], "blocks": two.params["blocks"]}
        assert bot.click(block_actions_payload(message, "buddy_refresh", channel="C2", team_id="T2"))[0] == 200
        fake_slack.wait_for("chat.update", 1, timeout=15, predicate=lambda c: c.channel == "C2")
        mention = {"type": "app_mention", "user": "U777", "text": f"<@UBT1> <{run}>", "ts": "1700000500.000200",
                   "channel": "C1M", "event_ts": "1700000500.000200"}
        assert send_event(bot, mention, team_id="T1") == 200
        fake_slack.wait_for("chat.postMessage", 1, timeout=15, predicate=lambda c: c.channel == "C1M")
        # Everything about each request went with its own workspace's token, never the other's.
        assert tokens_in(fake_slack, "C1") == tokens_in(fake_slack, "C1M") == {first.bot_token}
        assert tokens_in(fake_slack, "C2") == {second.bot_token}
        assert {c.token for c in fake_slack.calls()} - {None} == {first.bot_token, second.bot_token}
    finally:
        bot.stop()
    # At rest every token is encrypted: neither table holds one in the clear.
    for table in ("slack_bots", "slack_installations"):
        stored = sql(state_settings, f"SELECT team_id, bot_token FROM {table} ORDER BY team_id")
        assert [team for team, _ in stored] == ["T1", "T2"]
        assert all(token and "xoxb-" not in token and token not in (first.bot_token, second.bot_token) for _, token in stored)
    for secret in (first.bot_token, second.bot_token, CLIENT_SECRET, ENCRYPTION_KEY):
        assert secret not in bot.log()


def test_an_enterprise_grid_org_wide_install_answers_every_workspace_of_the_org(tmp_path, fake_slack, fake_buddy):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        org = install(bot, fake_slack, None, enterprise_id="E1")
        outside = install(bot, fake_slack, "T3")
        run = finished_run(fake_buddy)
        for team, channel in (("T1A", "C1A"), ("T1B", "C1B")):  # two workspaces of the org
            command(bot, fake_slack, run, team=team, channel=channel, enterprise_id="E1", is_enterprise_install=True)
        command(bot, fake_slack, run, team="T3", channel="C3")
        fake_slack.wait_for("chat.postMessage", 3, timeout=20)
        posted = {c.channel: c.token for c in fake_slack.calls("chat.postMessage")}
        assert posted == {"C1A": org.bot_token, "C1B": org.bot_token, "C3": outside.bot_token}
    finally:
        bot.stop()
    state = {"state_db": str(tmp_path / "state.db")}
    stored = sql(state, "SELECT enterprise_id, team_id, is_enterprise_install FROM slack_bots ORDER BY id")
    assert [(e, t, bool(i)) for e, t, i in stored] == [("E1", None, True), (None, "T3", False)]


def test_a_workspace_without_the_app_is_told_so_and_no_token_is_used(tmp_path, fake_slack, fake_buddy):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, "T1")
        command(bot, fake_slack, finished_run(fake_buddy), team="T9", channel="C9")
        [told] = fake_slack.wait_for("response_url:C9", 1, timeout=10)
        assert "not installed in this workspace" in told.params["text"] and "/slack/install" in told.params["text"]
        time.sleep(1)  # the bot had every chance to post
        assert fake_slack.calls("chat.postMessage") == [] and tokens_in(fake_slack, "C9") == set()
    finally:
        bot.stop()


def test_work_taken_over_after_a_crash_is_answered_with_its_workspaces_token(tmp_path, fake_slack, fake_buddy):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, "T1")
        second = install(bot, fake_slack, "T2")
        held = fake_slack.hold("chat.postMessage", record=False, channel="C2")
        command(bot, fake_slack, finished_run(fake_buddy), team="T2", channel="C2")
        assert held.arrived.wait(15)
        bot.kill()
        bot.start()  # a new process: the token comes from the store, read for the unit's workspace
        [post] = fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == "C2")  # answered
        assert post.token == second.bot_token
        assert tokens_in(fake_slack, "C2") == {second.bot_token}
    finally:
        bot.stop()


def running(fake_buddy: FakeBuddy):
    return fake_buddy.add_execution(status="INPROGRESS", start=datetime.now(timezone.utc), finish=None,
                                    actions=[FakeAction(name="Build", status="INPROGRESS", finish=None)])


@pytest.fixture
def subscribed(tmp_path, fake_slack, fake_buddy, state_settings):
    """T1 and T2 installed; each with a subscription to one pipeline's failures, two runs still going
    followed (one of them ends in the test), and a person's linked Buddy account."""
    fake_buddy.pipelines.setdefault(("acme", "web", 7), [])
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy, **state_env(state_settings), SUBSCRIPTION_POLL_SECONDS="0.3",
                    SLACK_CHANNEL_PACING_S="0.01", WATCH_POLL_SECONDS="0.2", WATCH_BACKOFF_MAX_SECONDS="0.3").start()
    try:
        installs = {team: install(bot, fake_slack, team) for team in ("T1", "T2")}
        going, still = running(fake_buddy), running(fake_buddy)
        for team, channel in (("T1", "C1"), ("T2", "C2")):
            ack = command(bot, fake_slack, f"subscribe {PIPELINE_URL} failures", team=team, channel=channel)
            assert "Checking" in ack
            fake_slack.wait_for("chat.postEphemeral", 1, timeout=15, predicate=lambda c, ch=channel: c.channel == ch)
            command(bot, fake_slack, fake_buddy.html_url("acme", "web", 7, going), team=team, channel=f"{channel}-RUN")
            command(bot, fake_slack, fake_buddy.html_url("acme", "web", 7, still), team=team, channel=f"{channel}-STILL")
            sql(state_settings, "INSERT INTO linked_accounts (team, slack_user, host, buddy_user_name, kind, token, scopes, linked_at)"
                " VALUES (:team, 'U1', 'app.buddy.works', 'Ann', 'personal', 'sealed', '', 0)", team=team)
        wait_until(lambda: len(sql(state_settings, "SELECT id FROM watches WHERE team IS NOT NULL")) == 4)
        yield bot, installs, going
    finally:
        bot.stop()


def counts(state_settings: dict[str, str], team: str) -> dict[str, int]:
    key = f"/{team}"
    return {
        "subscriptions": len(sql(state_settings, "SELECT id FROM subscriptions WHERE team = :key", key=key)),
        "watches": len(sql(state_settings, "SELECT id FROM watches WHERE team = :key", key=key)),
        "linked accounts": len(sql(state_settings, "SELECT slack_user FROM linked_accounts WHERE team = :team", team=team)),
        "bots": len(sql(state_settings, "SELECT id FROM slack_bots WHERE team_id = :team", team=team)),
        "installations": len(sql(state_settings, "SELECT id FROM slack_installations WHERE team_id = :team", team=team)),
        "settings": len(sql(state_settings, "SELECT team FROM workspace_settings WHERE team = :key", key=key)),
    }


def test_background_work_posts_with_each_workspaces_token_and_an_uninstall_removes_its_data(
    subscribed, fake_slack, fake_buddy, state_settings
):
    bot, installs, going = subscribed
    first, second = installs["T1"].bot_token, installs["T2"].bot_token
    # A followed run moving on is edited with the token of the workspace that asked about it.
    fake_buddy.change(going, 0, status="SUCCESSFUL", finish=datetime.now(timezone.utc))
    going.status, going.finish = "SUCCESSFUL", datetime.now(timezone.utc)
    for channel, token in (("C1-RUN", first), ("C2-RUN", second)):
        fake_slack.wait_for("chat.update", 1, timeout=20, predicate=lambda c, ch=channel: c.channel == ch)
        assert tokens_in(fake_slack, channel) == {token}
    # A subscribed pipeline's run is announced in each channel with that channel's workspace's token.
    fake_buddy.add_execution(status="FAILED", branch="main", start=datetime.now(timezone.utc),
                             finish=datetime.now(timezone.utc), actions=[FakeAction(name="Build", status="FAILED")])
    for channel, token in (("C1", first), ("C2", second)):
        fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c, ch=channel: c.channel == ch)
        assert tokens_in(fake_slack, channel) == {token}
    fake_slack.users["UADMIN"] = {"is_admin": True}
    for team in ("T1", "T2"):  # each workspace's admin has set its own Buddy settings
        assert submit(bot, form("default", workspaces="acme"), user="UADMIN", team=team)["response_action"] == "update"
    everything = {"subscriptions": 1, "watches": 1, "linked accounts": 1, "bots": 1, "installations": 1, "settings": 1}
    wait_until(lambda: counts(state_settings, "T1") == counts(state_settings, "T2") == everything)

    fake_slack.oauth.revoke("T1")  # Slack revokes the tokens, then tells the app
    assert send_event(bot, {"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"}, team_id="T1") == 200
    wait_until(lambda: counts(state_settings, "T1") == dict.fromkeys(counts(state_settings, "T1"), 0))
    assert counts(state_settings, "T2") == everything
    assert "forgot the workspace T1: its installation, 1 subscription(s), 1 watch(es), 1 linked account(s)" in bot.log()

    # T1 is told the app is gone, with no token used; T2 is answered and announced as before.
    fake_slack.reset()
    command(bot, fake_slack, finished_run(fake_buddy), team="T1", channel="C1")
    [told] = fake_slack.wait_for("response_url:C1", 1, timeout=10)
    assert "not installed in this workspace" in told.params["text"]
    fake_buddy.add_execution(status="FAILED", branch="main", start=datetime.now(timezone.utc),
                             finish=datetime.now(timezone.utc), actions=[FakeAction(name="Build", status="FAILED")])
    fake_slack.wait_for("chat.postMessage", 2, timeout=20, predicate=lambda c: c.channel == "C2")  # and its details
    wait_until(lambda: not sql(state_settings, "SELECT id FROM work_units WHERE status != 'done'"))
    assert tokens_in(fake_slack, "C2") == {second} and tokens_in(fake_slack, "C1") == set()


def test_tokens_revoked_for_the_bot_forgets_the_workspace_and_for_people_only_their_tokens(tmp_path, fake_slack, fake_buddy):
    state = {"state_db": str(tmp_path / "state.db")}
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, "T1")
        people_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALLER"]}, "event_ts": "1.000001"}
        assert send_event(bot, people_only, team_id="T1") == 200
        wait_until(lambda: "tokens_revoked" in bot.log() and not sql(state, "SELECT id FROM slack_installations"))
        assert len(sql(state, "SELECT id FROM slack_bots WHERE team_id = 'T1'")) == 1  # the bot stays installed
        bot_token = {"type": "tokens_revoked", "tokens": {"bot": ["UBT1"]}, "event_ts": "2.000001"}
        assert send_event(bot, bot_token, team_id="T1") == 200
        # The log line comes once the rows are gone: wait for both, not one then the other.
        wait_until(lambda: not sql(state, "SELECT id FROM slack_bots") and "forgot the workspace T1" in bot.log())
    finally:
        bot.stop()


def test_an_org_wide_uninstall_forgets_the_org_and_its_peoples_accounts(tmp_path, fake_slack, fake_buddy):
    state = {"state_db": str(tmp_path / "state.db")}
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, None, enterprise_id="E1")
        install(bot, fake_slack, "T3")
        for team in ("E1", "T3"):
            sql(state, "INSERT INTO linked_accounts (team, slack_user, host, buddy_user_name, kind, token, scopes, linked_at)"
                " VALUES (:team, 'W1', 'app.buddy.works', 'Ann', 'personal', 'sealed', '', 0)", team=team)
        fake_slack.oauth.revoke("E1")
        event = {"type": "app_uninstalled", "event_ts": "3.000001"}
        assert send_event(bot, event, team_id="T1A", enterprise_id="E1", org_wide=True) == 200
        # The installation goes first, then the org's data, in a transaction of its own: wait for both.
        wait_until(lambda: sql(state, "SELECT team_id FROM slack_bots") == [("T3",)]
                   and sql(state, "SELECT team FROM linked_accounts") == [("T3",)])
    finally:
        bot.stop()


def test_each_way_an_install_fails_ends_on_a_page_that_says_what_happened(tmp_path, fake_slack, fake_buddy):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        link, cookie = start_install(bot)
        cancelled = get(allow(link, decision="cancel"), cookie=cookie)
        assert cancelled.status == 200 and "cancelled on Slack's page: nothing was installed" in cancelled.text

        link, cookie = start_install(bot)
        redirect = allow(link)
        other_browser = get(redirect)  # no state cookie
        assert other_browser.status == 400 and "started in another browser" in other_browser.text

        link, cookie = start_install(bot)
        fake_slack.fail("oauth.v2.access", "invalid_code", times=1)
        refused = get(allow(link), cookie=cookie)
        assert refused.status == 401 and "Slack did not accept this install" in refused.text

        link, cookie = start_install(bot)
        redirect = allow(link)
        assert 'id="installed"' in get(redirect, cookie=cookie).text
        again = get(redirect, cookie=cookie)  # the same redirect replayed: its state is used up
        assert again.status == 401 and "expired (it lasts 10 minutes) or was used already" in again.text
        for page in (cancelled, other_browser, refused, again):
            assert 'href="/slack/install"' in page.text and "Traceback" not in page.text
    finally:
        bot.stop()
    assert len(sql({"state_db": str(tmp_path / "state.db")}, "SELECT id FROM slack_bots")) == 1


def test_the_install_asks_for_the_manifests_scopes_and_returns_to_the_public_url(tmp_path, fake_slack, fake_buddy):
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, "T1")
    finally:
        bot.stop()
    [asked] = fake_slack.oauth.authorize_requests
    assert asked["redirect_uri"] == f"{bot.url}/slack/oauth_redirect"
    assert set(asked["scope"].split(",")) == set(fake_slack.scopes) and asked["user_scope"] == ""
    [exchange] = fake_slack.calls("oauth.v2.access")
    assert exchange.params["redirect_uri"] == asked["redirect_uri"] and "client_secret" not in json.dumps(exchange.params)

