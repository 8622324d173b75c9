"""slack_sdk's SQLAlchemy installation and OAuth state stores on the bot's state store, on SQLite
(aiosqlite) and PostgreSQL (asyncpg), in the tables migration 0005 made: tokens sealed at rest,
workspaces and org-wide installs kept apart, and the Slack client each one is answered with."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text

from bot.identity.vault import Vault
from bot.slack.clients import NotInstalled, SlackClients, Workspace, installation_key
from bot.slack.install import InstallationStore, OAuthStates
from bot.state.store import StateStore
from tests.fakes.slack_oauth import CLIENT_ID

KEY = Fernet.generate_key().decode()
# A rotating token and its refresh token: once sealed, longer than slack_sdk's VARCHAR(200).
ROTATING = "xoxe.xoxb-1-" + "R" * 160
REFRESH = "xoxe-1-" + "F" * 150


def installation(team: str | None, *, enterprise: str | None = None, token: str = "", **kw) -> Installation:
    return Installation(
        app_id="A123",
        enterprise_id=enterprise,
        team_id=team,
        bot_token=token or f"xoxb-{team or enterprise}-bot",
        bot_id=f"B{team or enterprise}",
        bot_user_id=f"UB{team or enterprise}",
        bot_scopes="chat:write,commands",
        user_id="U0INSTALLER",
        is_enterprise_install=team is None,
        **kw,
    )


async def test_tokens_are_sealed_at_rest_and_read_back_per_workspace(state: StateStore):
    store = InstallationStore(CLIENT_ID, state.engine, Vault(KEY))
    await store.async_save(installation("T1"))
    await store.async_save(installation(None, enterprise="E1"))
    rotating = installation("T2", token=ROTATING, bot_refresh_token=REFRESH, bot_token_expires_in=43200)
    await store.async_save(rotating)

    one = await store.async_find_bot(enterprise_id=None, team_id="T1")
    org = await store.async_find_bot(enterprise_id="E1", team_id="T7", is_enterprise_install=True)
    two = await store.async_find_installation(enterprise_id=None, team_id="T2")
    assert one is not None and org is not None and two is not None
    assert (one.bot_token, org.bot_token) == ("xoxb-T1-bot", "xoxb-E1-bot")
    assert (two.bot_token, two.bot_refresh_token) == (ROTATING, REFRESH)
    assert await store.async_find_bot(enterprise_id=None, team_id="T9") is None
    assert await store.async_find_bot(enterprise_id="E1", team_id="T7") is None  # not a workspace install of E1

    async with state.begin() as db:
        stored = [tuple(row) for row in await db.execute(text(
            "SELECT bot_token, bot_refresh_token FROM slack_installations UNION ALL SELECT bot_token, bot_refresh_token FROM slack_bots"
        ))]
    assert len(stored) == 6
    for sealed in (value for row in stored for value in row if value is not None):
        assert "xox" not in sealed and Vault(KEY).open(sealed).startswith("xox")


async def test_a_token_sealed_with_another_key_is_not_installed(state: StateStore):
    await InstallationStore(CLIENT_ID, state.engine, Vault(KEY)).async_save(installation("T1"))
    other_key = InstallationStore(CLIENT_ID, state.engine, Vault(Fernet.generate_key().decode()))
    found = await other_key.async_find_bot(enterprise_id=None, team_id="T1")
    assert found is not None and found.bot_token is None
    clients = SlackClients(AsyncWebClient(token=None), other_key)
    with pytest.raises(NotInstalled, match="not installed in the workspace T1"):
        await clients.for_key("/T1")


async def test_each_workspace_gets_a_client_with_its_own_token_and_a_forgotten_one_none(state: StateStore):
    store = InstallationStore(CLIENT_ID, state.engine, Vault(KEY))
    for saved in (installation("T1"), installation("T2", enterprise="E2"), installation(None, enterprise="E1")):
        await store.async_save(saved)
    app_client = AsyncWebClient(token=None, base_url="http://127.0.0.1:9/api/")
    clients = SlackClients(app_client, store)
    command = {"team_id": "T1", "is_enterprise_install": "false"}
    grid_command = {"team_id": "T2", "enterprise_id": "E2", "is_enterprise_install": "false"}
    org_event = {"type": "event_callback", "team_id": "T5", "enterprise_id": "E1",
                 "authorizations": [{"enterprise_id": "E1", "team_id": None, "is_enterprise_install": True}]}
    one, two, org = [await clients.for_body(body) for body in (command, grid_command, org_event)]
    assert (one.token, two.token, org.token) == ("xoxb-T1-bot", "xoxb-T2-bot", "xoxb-E1-bot")
    assert [installation_key(c) for c in (one, two, org)] == ["/T1", "E2/T2", "E1/"]
    assert one.base_url == app_client.base_url and one.session is app_client.session
    assert await clients.for_key("/T1") is one  # kept: no second read
    assert installation_key(app_client) is None

    await store.async_delete_all(enterprise_id=None, team_id="T1")
    clients.forget(Workspace(None, "T1"))
    with pytest.raises(NotInstalled):
        await clients.for_body(command)
    with pytest.raises(NotInstalled, match="no Slack workspace was recorded"):
        await clients.for_key(None)
    assert await SlackClients(app_client).for_body(command) is app_client  # one SLACK_BOT_TOKEN: always the app's


async def test_oauth_states_are_used_once_and_expired_ones_are_deleted(state: StateStore):
    states = OAuthStates(expiration_seconds=600, engine=state.engine)
    issued = await states.async_issue()
    assert await states.async_consume(issued) is True
    assert await states.async_consume(issued) is False
    stale = datetime.now(tz=timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)
    async with state.begin() as db:
        await db.execute(text("INSERT INTO slack_oauth_states (state, expire_at) VALUES ('old', :at)"), {"at": stale})
    assert await states.async_consume("old") is False
    await states.async_issue()
    async with state.begin() as db:
        left = [row[0] for row in await db.execute(text("SELECT state FROM slack_oauth_states"))]
    assert len(left) == 1 and "old" not in left
