"""Linked accounts on both engines: tokens kept encrypted, one per person per host, forgotten on
logout, and a token sealed under another key is forgotten rather than misread."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.identity.accounts import OAUTH, PERSONAL, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.vault import Vault, VaultLocked
from bot.state.tables import linked_accounts

ANA = SlackPerson("T1", "U_ANA")


def account(token: str = "ana-token", *, host: str = "app.buddy.works", kind: str = PERSONAL, **more) -> LinkedAccount:
    return LinkedAccount(ANA, host, 7, "ana", kind, token, **more)


async def test_a_token_is_kept_encrypted_and_read_back(state):
    accounts = LinkedAccounts(state, Vault(Fernet.generate_key().decode()))
    await accounts.put(account("ana-token", kind=OAUTH, refresh_token="ana-refresh", expires_at=123.0, scopes=("EXECUTION_RUN",)))
    got = await accounts.get(ANA, "APP.buddy.works")
    assert got is not None
    assert (got.token, got.refresh_token, got.expires_at, got.scopes, got.buddy_user_name) == (
        "ana-token", "ana-refresh", 123.0, ("EXECUTION_RUN",), "ana")
    async with state.begin() as db:
        stored = (await db.execute(select(linked_accounts.c.token, linked_accounts.c.refresh_token))).one()
    assert "ana-token" not in stored.token and "ana-refresh" not in stored.refresh_token
    assert "ana-token" not in repr(got)


async def test_one_account_per_person_per_host_and_logout_forgets_it(state):
    accounts = LinkedAccounts(state, Vault(Fernet.generate_key().decode()))
    await accounts.put(account("first"))
    await accounts.put(account("second"))
    await accounts.put(account("other-host", host="buddy.example.com"))
    assert (await accounts.get(ANA, "app.buddy.works")).token == "second"  # type: ignore[union-attr]
    assert await accounts.hosts(ANA) == ["app.buddy.works", "buddy.example.com"]
    assert await accounts.get(SlackPerson("T2", "U_ANA"), "app.buddy.works") is None  # another workspace
    assert await accounts.forget(ANA, "app.buddy.works") == 1
    assert await accounts.get(ANA, "app.buddy.works") is None
    assert await accounts.forget(ANA) == 1


async def test_a_token_sealed_under_another_key_is_forgotten(state):
    await LinkedAccounts(state, Vault(Fernet.generate_key().decode())).put(account())
    rotated = LinkedAccounts(state, Vault(Fernet.generate_key().decode()))
    assert await rotated.get(ANA, "app.buddy.works") is None
    assert await rotated.hosts(ANA) == []


async def test_without_a_key_nothing_is_kept(state):
    with pytest.raises(VaultLocked, match="TOKEN_ENCRYPTION_KEY"):
        await LinkedAccounts(state, Vault("")).put(account())


def test_the_slack_person_is_read_from_each_kind_of_body():
    assert SlackPerson.of({"team_id": "T1", "user_id": "U1"}) == SlackPerson("T1", "U1")  # a command
    assert SlackPerson.of({"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T1"}}) == SlackPerson("T1", "U1")
    assert SlackPerson.of({"enterprise": {"id": "E1"}, "team": {"id": "T1"}, "user": {"id": "U1"}}) == SlackPerson("E1", "U1")
