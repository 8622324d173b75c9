"""Per-workspace Buddy settings, end to end: two workspaces installed through OAuth, an admin of one
saving its own Buddy token and allowed Buddy workspaces through a signed ``view_submission``, a
non-admin refused, and each workspace's requests read with its own settings only."""

from __future__ import annotations

import json

from bot.render.workspace_settings import HOSTS_BLOCK, READING_BLOCK, SETTINGS_VIEW, TOKEN_BLOCK, WORKSPACES_BLOCK
from bot.slack.listeners.actions.workspace_settings import ADMINS_ONLY
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.slack import FakeSlack
from tests.slack.install.flow import form, install, oauth_bot, sql, state_env, submit
from tests.slack.install.test_install_e2e import command, wait_until

T1_TOKEN = "t1-own-buddy-token-0123456789"


def test_an_admin_sets_their_workspaces_token_a_non_admin_is_refused_and_neither_workspace_sees_the_other(
    tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, state_settings
):
    # acme/web pipeline 7 is readable only with the first workspace's own token, not the operator's.
    fake_buddy.add_user(T1_TOKEN, "first-workspace-bot")
    fake_buddy.readers[("acme", "web", 7)] = {T1_TOKEN}
    run = fake_buddy.add_execution(actions=[FakeAction(name="Build", log=["compiling", "done"])], branch="main")
    link = fake_buddy.html_url("acme", "web", 7, run, run.actions[0])
    fake_slack.users["UADMIN"] = {"is_admin": True}
    fake_slack.users["UOWNER2"] = {"is_owner": True}
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy, **state_env(state_settings)).start()
    try:
        install(bot, fake_slack, "T1", team_name="First")
        install(bot, fake_slack, "T2", team_name="Second")

        # A member who is not an admin: refused in the form, nothing kept.
        refused = submit(bot, form("token", token=T1_TOKEN), user="UPLAIN", team="T1")
        assert refused == {"response_action": "errors", "errors": {READING_BLOCK: ADMINS_ONLY}}
        assert sql(state_settings, "SELECT count(*) FROM workspace_settings") == [(0,)]
        # A token Buddy refuses is said in the form, and not kept either.
        wrong = submit(bot, form("token", token="not-a-real-token"), user="UADMIN", team="T1")
        assert wrong["response_action"] == "errors" and "refused this token" in wrong["errors"][TOKEN_BLOCK]
        assert sql(state_settings, "SELECT count(*) FROM workspace_settings") == [(0,)]

        saved = submit(bot, form("token", token=T1_TOKEN), user="UADMIN", team="T1")
        assert saved["response_action"] == "update" and "Saved" in json.dumps(saved["view"])
        [(team, sealed, by)] = sql(state_settings, "SELECT team, sealed, updated_by FROM workspace_settings")
        assert (team, by) == ("/T1", "UADMIN") and T1_TOKEN not in sealed

        # The first workspace reads with its own token; the second, with the operator's, may not read it.
        command(bot, fake_slack, link, team="T1", channel="C1")
        command(bot, fake_slack, link, team="T2", channel="C2")
        fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == "C1")
        told = wait_until(lambda: fake_slack.responses("C2"))
        assert "The Buddy token may not read this run" in json.dumps(told)
        assert not [c for c in fake_slack.calls("chat.postMessage") if c.channel == "C2"]

        # The second workspace's owner allows only the globex Buddy workspace: its acme link is refused in
        # the acknowledgement, while the first workspace is still answered.
        assert submit(bot, form("default", workspaces="globex"), user="UOWNER2", team="T2")["response_action"] == "update"
        ack = command(bot, fake_slack, link, team="T2", channel="C2B")
        assert "not allowed to read the Buddy workspace acme" in ack
        ack = command(bot, fake_slack, link, team="T1", channel="C1B")
        assert "Looking up" in ack
        fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == "C1B")

        # Hosts are only those the bot is set up for.
        odd = submit(bot, form("default", hosts=("169.254.169.254",)), user="UADMIN", team="T1")
        assert odd["response_action"] == "errors" and HOSTS_BLOCK in odd["errors"]
    finally:
        bot.stop()
    assert T1_TOKEN not in bot.log()


def test_settings_open_for_an_admin_only(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    fake_slack.users["UADMIN"] = {"is_admin": True}
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        install(bot, fake_slack, "T1")
        command(bot, fake_slack, "settings", team="T1", channel="C1", user_id="UPLAIN")
        command(bot, fake_slack, "settings", team="T1", channel="C1", user_id="UADMIN")
        opened = fake_slack.wait_for("views.open", 2, timeout=15)
        views = [json.loads(c.params["view"]) if isinstance(c.params["view"], str) else c.params["view"] for c in opened]
        assert "callback_id" not in views[0] and ADMINS_ONLY in json.dumps(views[0])
        assert views[1]["callback_id"] == SETTINGS_VIEW
        assert {b.get("block_id") for b in views[1]["blocks"]} >= {READING_BLOCK, TOKEN_BLOCK, HOSTS_BLOCK, WORKSPACES_BLOCK}
    finally:
        bot.stop()
