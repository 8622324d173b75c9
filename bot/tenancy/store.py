"""Each installation's settings in the state store, sealed whole (the token among them) with the vault."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select

from bot.identity.vault import Unreadable, Vault
from bot.state.store import StateStore
from bot.state.tables import workspace_settings
from bot.tenancy.settings import WorkspaceSettings

log = logging.getLogger(__name__)


class WorkspaceSettingsStore:
    def __init__(self, state: StateStore, vault: Vault) -> None:
        self.state = state
        self.vault = vault

    async def get(self, key: str) -> WorkspaceSettings | None:
        """None when the installation set nothing (or its settings were sealed with another key:
        logged, and the defaults serve until an admin sets them again)."""
        async with self.state.begin() as db:
            row = (await db.execute(select(workspace_settings.c.sealed).where(workspace_settings.c.team == key))).first()
        return self._opened(key, row.sealed) if row is not None else None

    async def every(self) -> dict[str, WorkspaceSettings]:
        """Every installation's settings that this key can open."""
        async with self.state.begin() as db:
            rows = (await db.execute(select(workspace_settings.c.team, workspace_settings.c.sealed))).all()
        opened = {row.team: self._opened(row.team, row.sealed) for row in rows}
        return {key: chosen for key, chosen in opened.items() if chosen is not None}

    def _opened(self, key: str, sealed: str) -> WorkspaceSettings | None:
        if self.vault.locked:
            return None
        try:
            return WorkspaceSettings.from_json(self.vault.open(sealed))
        except Unreadable:
            log.warning(
                "the settings of installation %s were encrypted with another TOKEN_ENCRYPTION_KEY; the defaults serve it", key
            )
            return None

    async def put(self, key: str, chosen: WorkspaceSettings) -> None:
        """Keeps ``chosen`` (VaultLocked without TOKEN_ENCRYPTION_KEY: nothing is kept in clear)."""
        sealed = self.vault.seal(chosen.to_json())
        async with self.state.begin() as db:
            await db.execute(delete(workspace_settings).where(workspace_settings.c.team == key))
            await db.execute(
                workspace_settings.insert().values(
                    team=key, sealed=sealed, updated_by=chosen.updated_by, updated_at=chosen.updated_at
                )
            )

    async def forget(self, key: str) -> None:
        async with self.state.begin() as db:
            await db.execute(delete(workspace_settings).where(workspace_settings.c.team == key))
