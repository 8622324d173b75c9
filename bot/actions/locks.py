"""Done once: of two clicks of one operation on one run, one Buddy call, whichever replica gets each.

A click arrives as its own payload (another ``action_ts``, another person maybe), so its unit of
work has its own key; the lock is on the (run, operation) instead, in the ``action_locks`` table all
replicas share. A unit holds it while its call is in flight and for ``HOLD_AFTER_DONE_S`` after the
call succeeded; a call Buddy refused or that failed lets it go at once, so that someone Buddy allows
can act right after. A unit taken over after a crash holds the lock already (by its id) and takes it
again; a lock whose unit never finished lapses after ``IN_FLIGHT_S``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.identity.accounts import SlackPerson
from bot.state.store import StateStore
from bot.state.tables import action_audit, action_locks, work_units

HOLD_AFTER_DONE_S = 10.0
# Longer than any one call can take (a lookup's retries, then the write): a crashed unit is taken
# over, and holds it again, well within this.
IN_FLIGHT_S = 300.0
FORGOTTEN_AFTER_S = 3600.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the Slack user whose click it is, and whether their call is already done."""

    user: str | None
    done: bool


def lock_key(host: str, workspace: str, project: str, pipeline_id: int, execution_id: int, operation: str) -> str:
    """The run as the API names it (so a web link and an API link to it share the key), and the operation."""
    return f"{host.lower()}/{workspace}/{project}/{int(pipeline_id)}/{int(execution_id)}:{operation}"


class ActionLocks:
    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    async def take(self, key: str, unit_id: str) -> Holder | None:
        """Takes the lock for ``unit_id``; None when taken, else who holds it."""
        now = self.clock()
        insert = sqlite_insert if self.state.is_sqlite else postgresql_insert
        row = insert(action_locks).values(key=key, unit_id=unit_id, until=now + IN_FLIGHT_S)
        # Taken when free, lapsed, or this unit's own (a take-over after a crash).
        statement = row.on_conflict_do_update(
            index_elements=["key"],
            set_={"unit_id": row.excluded.unit_id, "until": row.excluded.until},
            where=(action_locks.c.until < now) | (action_locks.c.unit_id == row.excluded.unit_id),
        ).returning(action_locks.c.unit_id)
        async with self.state.begin() as db:
            await db.execute(delete(action_locks).where(action_locks.c.until < now - FORGOTTEN_AFTER_S))
            if (await db.execute(statement)).first() is not None:
                return None
            holder = (await db.execute(select(action_locks.c.unit_id).where(action_locks.c.key == key))).scalar()
        return await self._holder(str(holder or ""))

    async def done(self, key: str, unit_id: str) -> None:
        """The call succeeded: the lock stays for HOLD_AFTER_DONE_S more."""
        async with self.state.begin() as db:
            await db.execute(
                update(action_locks)
                .where(action_locks.c.key == key, action_locks.c.unit_id == unit_id)
                .values(until=self.clock() + HOLD_AFTER_DONE_S)
            )

    async def release(self, key: str, unit_id: str) -> None:
        async with self.state.begin() as db:
            await db.execute(delete(action_locks).where(action_locks.c.key == key, action_locks.c.unit_id == unit_id))

    async def _holder(self, unit_id: str) -> Holder:
        """Who clicked: the audit row once the call is done, else the request the unit still holds."""
        async with self.state.begin() as db:
            audited = (await db.execute(select(action_audit.c.slack_user).where(action_audit.c.unit_id == unit_id))).scalar()
            if audited is not None:
                return Holder(str(audited), done=True)
            payload = (await db.execute(select(work_units.c.payload).where(work_units.c.id == unit_id))).scalar()
        try:
            request = json.loads(payload) if payload else {}
        except ValueError:
            request = {}
        user = SlackPerson.of(request).user if isinstance(request, dict) else ""
        return Holder(user or None, done=False)
