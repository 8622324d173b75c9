"""Each installation's settings in the state store, sealed whole (the token among them) with the vault."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import delete, select

from bot.identity.vault import Unreadable, Vault
from bot.state.store import StateStore
from bot.state.tables import workspace_settings
from bot.tenancy.settings import WorkspaceSettings

log = logging.getLogger(__name__)


class WorkspaceSettingsStore:
    def __init__(self, state: StateStore, vault: Vault, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.vault = vault
        self.clock = clock

    async def get(self, key: str) -> WorkspaceSettings | None:
        """None when the installation set nothing (or its settings were sealed with another key:
        logged, and the defaults serve until an admin sets them again)."""
        async with self.state.begin() as db:
            row = (await db.execute(select(workspace_settings.c.sealed).where(workspace_settings.c.team == key))).first()
        if row is None or self.vault.locked:
            return None
        try:
            return WorkspaceSettings.from_json(self.vault.open(row.sealed))
        except Unreadable:
            log.warning(
                "the settings of installation %s were encrypted with another TOKEN_ENCRYPTION_KEY; the defaults serve it", key
            )
            return None

    async def every(self) -> dict[str, WorkspaceSettings]:
        """Every installation's settings that this key can open."""
        async with self.state.begin() as db:
            rows = (await db.execute(select(workspace_settings.c.team, workspace_settings.c.sealed))).all()
        found: dict[str, WorkspaceSettings] = {}
        for row in rows if not self.vault.locked else []:
            try:
                found[row.team] = WorkspaceSettings.from_json(self.vault.open(row.sealed))
            except Unreadable:
                log.warning("the settings of installation %s were encrypted with another TOKEN_ENCRYPTION_KEY", row.team)
        return found

    async def put(self, key: str, chosen: WorkspaceSettings) -> WorkspaceSettings:
        """Keeps ``chosen`` (VaultLocked without TOKEN_ENCRYPTION_KEY: nothing is kept in clear)."""
        sealed = self.vault.seal(chosen.to_json())
        async with self.state.begin() as db:
            await db.execute(delete(workspace_settings).where(workspace_settings.c.team == key))
            await db.execute(
                workspace_settings.insert().values(
                    team=key, sealed=sealed, updated_by=chosen.updated_by, updated_at=chosen.updated_at
                )
            )
        return chosen

    async def forget(self, key: str) -> None:
        async with self.state.begin() as db:
            await db.execute(delete(workspace_settings).where(workspace_settings.c.team == key))
