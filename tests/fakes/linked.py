"""Linking Buddy accounts straight into a bot's state file, as `/buddy login` would have."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import Settings
from bot.identity.accounts import PERSONAL, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.vault import Vault
from bot.state.store import StateStore
from tests.fakes.signing import TEAM_ID

Account = tuple[str, str, str, tuple[str, ...]]  # Slack user, Buddy user name, token, scopes


def link(state_db: Path, key: str, *accounts: Account, buddy_user_id: int | None = None) -> None:
    """Keeps each account (personal tokens on app.buddy.works) under the Fernet ``key``."""

    async def put() -> None:
        state = await StateStore.open(Settings(_env_file=None, state_db=str(state_db)))
        try:
            store = LinkedAccounts(state, Vault(key))
            for user, name, token, scopes in accounts:
                person = SlackPerson(TEAM_ID, user)
                await store.put(LinkedAccount(person, "app.buddy.works", buddy_user_id, name, PERSONAL, token, scopes=scopes))
        finally:
            await state.close()

    asyncio.run(put())


def unlink(state_db: Path, key: str, user: str) -> None:
    """Forgets every account of the Slack ``user``, as `/buddy logout` would."""

    async def forget() -> None:
        state = await StateStore.open(Settings(_env_file=None, state_db=str(state_db)))
        try:
            await LinkedAccounts(state, Vault(key)).forget(SlackPerson(TEAM_ID, user))
        finally:
            await state.close()

    asyncio.run(forget())
