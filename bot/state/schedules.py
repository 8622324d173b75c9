"""Periodic jobs shared by replicas: whoever moves a job's ``due_at`` forward first does it this time.

One conditional ``UPDATE`` (or the first ``INSERT``) decides; the others see no row changed and skip
the job. So a subscribed pipeline is polled once per interval in all, however many replicas run, and
a channel's posts keep their pace (``reserve_slot``) whichever replica posts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import case, insert, update
from sqlalchemy.exc import IntegrityError

from bot.state.store import StateStore
from bot.state.tables import schedules


class Schedules:
    def __init__(self, state: StateStore, owner: str, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.owner = owner
        self.clock = clock

    async def my_turn(self, key: str, interval: float) -> bool:
        """True when this replica is to do ``key`` now; it is then not due again for ``interval``.
        A little slack (a tenth of the interval) keeps replicas whose loops drift from skipping a turn."""
        now = self.clock()
        slack = interval / 10
        async with self.state.begin() as db:
            moved = await db.execute(
                update(schedules)
                .where(schedules.c.key == key, schedules.c.due_at <= now + slack)
                .values(due_at=now + interval, owner=self.owner)
            )
            if moved.rowcount == 1:
                return True
        try:
            async with self.state.begin() as db:
                await db.execute(insert(schedules).values(key=key, due_at=now + interval, owner=self.owner))
        except IntegrityError:
            return False  # another replica's turn, or not due yet
        return True

    async def reserve_slot(self, key: str, spacing: float) -> float:
        """Seconds to wait before the next write of ``key`` (a channel), ``spacing`` after the one
        before it on any replica. One UPDATE moves the slot on and returns it (the row lock orders
        replicas taking slots at the same moment), so no two writes share a slot."""
        for _ in range(2):  # a second time only when another replica created the row meanwhile
            now = self.clock()
            start = case((schedules.c.due_at > now, schedules.c.due_at), else_=now)
            async with self.state.begin() as db:
                taken = (
                    await db.execute(
                        update(schedules)
                        .where(schedules.c.key == key)
                        .values(due_at=start + spacing, owner=self.owner)
                        .returning(schedules.c.due_at)
                    )
                ).scalar()
            if taken is not None:
                return max(0.0, taken - spacing - now)
            try:
                async with self.state.begin() as db:
                    await db.execute(insert(schedules).values(key=key, due_at=now + spacing, owner=self.owner))
                return 0.0
            except IntegrityError:
                continue
        return 0.0
