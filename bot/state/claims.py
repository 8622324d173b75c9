"""Message claims: one answer per Slack message, even when Slack delivers it twice or retries it, or
delivers it as two events (``message`` and ``app_mention``), whichever replica each copy reaches.

A claim names the unit of work that holds it, so the unit taken over after a crash still holds it.
While the store is down the claims are kept in memory (best effort, this process only)."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import claims

CLAIM_TTL_S = 24 * 3600  # Slack retries within minutes; a day is far beyond any redelivery


class Claims:
    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._in_memory: dict[tuple[str, str], str | None] = {}

    async def claim(self, channel: str, ts: str, *, holder: str | None = None) -> bool:
        """True for the first caller (or again for the same ``holder``); False while another holds the
        claim or after it answered."""
        key = (channel, ts)
        if key in self._in_memory:
            return holder is not None and self._in_memory[key] == holder
        now = time.time()
        try:
            async with self.state.begin() as db:
                await db.execute(delete(claims).where(claims.c.claimed_at < now - CLAIM_TTL_S))
                await db.execute(insert(claims).values(channel=channel, ts=ts, claimed_at=now, unit_id=holder))
        except IntegrityError:
            if holder is None:
                return False
            async with self.state.begin() as db:
                held_by = (
                    await db.execute(select(claims.c.unit_id).where(claims.c.channel == channel, claims.c.ts == ts))
                ).scalar()
            return held_by == holder
        except StateUnavailable:
            self._in_memory[key] = holder  # answered all the same: the bot is degraded, not silent
        return True

    async def release(self, channel: str, ts: str) -> None:
        """Gives a message back after a failure, so Slack's retry of it is answered."""
        self._in_memory.pop((channel, ts), None)
        async with self.state.begin() as db:
            await db.execute(delete(claims).where(claims.c.channel == channel, claims.c.ts == ts))
