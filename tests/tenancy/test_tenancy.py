"""Each installation's own Buddy settings: what they change, how an admin's choice is checked, how
they are kept (sealed, on both engines), and which responder serves each installation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.answers import Request, Responder
from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.config import Settings
from bot.identity.vault import Vault, VaultLocked
from bot.lookup import Lookup
from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import workspace_settings
from bot.tenancy.settings import Invalid, Reading, WorkspaceSettings, chosen, selectable_hosts
from bot.tenancy.store import WorkspaceSettingsStore
from bot.tenancy.tenants import UNREADABLE, Tenants

KEY = Fernet.generate_key().decode()
RUN = "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/5"


def env(**kw) -> Settings:
    return Settings(_env_file=None, buddy_token="operator-token", buddy_workspaces=("acme",), **kw)  # type: ignore[arg-type]


def choose(current: WorkspaceSettings | None = None, **kw) -> WorkspaceSettings:
    values = dict(reading="default", token="", hosts=[], buddy_workspaces="", slack_channels=[], direct_messages=True)
    values.update(kw)
    return chosen(**values, current=current, settings=env(buddy_hosts=("buddy.corp",)), by="UADMIN", at=1.0)


def test_an_installations_own_token_replaces_the_operators_and_linked_only_keeps_none():
    settings = env(buddy_host_tokens={"buddy.corp": "corp-token"})
    own = WorkspaceSettings(reading=Reading.TOKEN, token="their-token").applied_to(settings)
    assert (own.token_for("app.buddy.works"), own.token_for("buddy.corp"), own.read_as_asker) == ("their-token",) * 2 + (False,)
    linked = WorkspaceSettings(reading=Reading.LINKED).applied_to(settings)
    assert (linked.token_for("app.buddy.works"), linked.token_for("buddy.corp"), linked.read_as_asker) == ("", "", True)
    default = WorkspaceSettings(buddy_workspaces=("globex",), slack_channels=("C1", "dm")).applied_to(settings)
    assert default.token_for("buddy.corp") == "corp-token" and default.buddy_workspaces == ("globex",)
    assert default.slack_channels == ("C1", "dm")
    assert settings.buddy_workspaces == ("acme",)  # the environment's own settings are untouched


def test_hosts_are_only_those_the_bot_is_set_up_for():
    assert "buddy.corp" in selectable_hosts(env(buddy_hosts=("buddy.corp",)))
    assert choose(hosts=["buddy.corp"]).hosts == ("buddy.corp",)
    with pytest.raises(Invalid) as refused:
        choose(hosts=["169.254.169.254"])
    assert refused.value.field == "hosts"


def test_a_token_is_asked_for_kept_when_left_blank_and_dropped_with_another_reading():
    with pytest.raises(Invalid) as missing:
        choose(reading="token")
    assert missing.value.field == "token"
    kept = choose(reading="token", token=" tok-1 ")
    assert kept.token == "tok-1"
    assert choose(kept, reading="token").token == "tok-1"
    assert choose(kept, reading="linked").token == ""
    with pytest.raises(Invalid):
        choose(reading="token", token="two words")


def test_lists_are_bounded_and_channels_take_direct_messages_only_when_chosen():
    assert choose(buddy_workspaces="acme, globex acme").buddy_workspaces == ("acme", "globex")
    with pytest.raises(Invalid):
        choose(buddy_workspaces=" ".join(f"w{i}" for i in range(51)))
    with pytest.raises(Invalid):
        choose(buddy_workspaces="<!channel>")
    assert choose(slack_channels=["C1"], direct_messages=True).slack_channels == ("C1", "dm")
    assert choose(slack_channels=["C1"], direct_messages=False).slack_channels == ("C1",)
    assert choose(slack_channels=[]).slack_channels == ()


async def test_settings_are_sealed_at_rest_and_kept_apart_per_installation(state: StateStore):
    store = WorkspaceSettingsStore(state, Vault(KEY))
    await store.put("/T1", WorkspaceSettings(reading=Reading.TOKEN, token="t1-secret", updated_by="U1"))
    await store.put("/T2", WorkspaceSettings(buddy_workspaces=("globex",)))
    assert (await store.get("/T1")).token == "t1-secret"
    assert (await store.get("/T2")).buddy_workspaces == ("globex",)
    assert await store.get("/T3") is None
    async with state.begin() as db:
        sealed = [row.sealed for row in await db.execute(select(workspace_settings.c.sealed))]
    assert len(sealed) == 2 and not any("t1-secret" in s or "globex" in s for s in sealed)
    # Read with another key, nothing is served from them (the defaults serve until an admin saves again).
    assert await WorkspaceSettingsStore(state, Vault(Fernet.generate_key().decode())).get("/T1") is None
    with pytest.raises(VaultLocked):
        await WorkspaceSettingsStore(state, Vault("")).put("/T1", WorkspaceSettings())
    await store.forget("/T1")
    assert await store.get("/T1") is None


async def test_each_installation_gets_its_own_responder_and_lookup(state: StateStore):
    settings = env()
    async with BuddyClient(settings) as client:
        base = Responder(Lookup(client, settings), settings)
        tenants = Tenants(base, WorkspaceSettingsStore(state, Vault(KEY)), kept_s=60)
        await tenants.save("/T1", WorkspaceSettings(reading=Reading.TOKEN, token="t1", buddy_workspaces=("globex",)))
        one, two, none = await tenants.responder("/T1"), await tenants.responder("/T2"), await tenants.responder(None)
        assert two is base and none is base
        assert one is not base and one.lookup is not base.lookup  # its own caches and coalescing
        assert one.lookup.client.token is None and one.settings.token_for("app.buddy.works") == "t1"
        assert await tenants.responder("/T1") is one  # kept while unchanged
        # Their allowed Buddy workspaces are their own.
        globex = Request(text=RUN.replace("acme", "globex"), whole_argument=True)
        assert one.plan(globex).refs and not base.plan(globex).refs
        acme = Request(text=RUN, whole_argument=True)
        assert base.plan(acme).refs and not one.plan(acme).refs
        await tenants.save("/T1", WorkspaceSettings(reading=Reading.LINKED))
        linked = await tenants.responder("/T1")
        assert linked is not one and linked.settings.read_as_asker


async def test_a_linked_only_installation_never_sends_the_operators_token():
    settings = WorkspaceSettings(reading=Reading.LINKED).applied_to(env())
    async with BuddyClient(env()) as client:
        with pytest.raises(errors.Unauthorized):
            await client.with_settings(settings).get_json("app.buddy.works", "/user")


class _StoreDown(WorkspaceSettingsStore):
    """The settings store once the state store has gone away (a disk full, a database down)."""

    def __init__(self, kept: dict[str, WorkspaceSettings]) -> None:
        self.kept = kept
        self.down = False

    async def get(self, key: str) -> WorkspaceSettings | None:
        if self.down:
            raise StateUnavailable("database down")
        return self.kept.get(key)

    async def every(self) -> dict[str, WorkspaceSettings]:
        return dict(self.kept)


@pytest.mark.parametrize("one_workspace", [True, False])
async def test_with_the_store_down_the_settings_last_read_serve_and_an_unread_installation_is_refused(one_workspace):
    settings = env()
    async with BuddyClient(settings) as client:
        base = Responder(Lookup(client, settings), settings)
        store = _StoreDown({"/T1": WorkspaceSettings(reading=Reading.LINKED)})
        tenants = Tenants(base, store, kept_s=0, defaults_when_unread=one_workspace)
        await tenants.warm()
        store.down = True
        kept = await tenants.responder("/T1")
        assert kept.settings.read_as_asker and kept.unavailable is None  # read at start, still served
        unread = await tenants.responder("/T9")
        if one_workspace:
            assert unread is base
        else:
            plan = unread.plan(Request(text=RUN, whole_argument=True))
            assert not plan.refs and plan.refusal == UNREADABLE
            assert unread.refusal_in("C1") == UNREADABLE
            with pytest.raises(StateUnavailable):
                await unread.reader(None, "app.buddy.works")
