"""The (run, operation) lock on both engines: one holder while its call is in flight and 10 s after it
succeeded, let go at once after a refusal, taken again by its own unit after a crash, lapsed when its
unit never came back; and who holds it, for the second clicker's note."""

from __future__ import annotations

import asyncio
import json

from bot.actions.audit import DONE, AuditTrail
from bot.actions.locks import HOLD_AFTER_DONE_S, IN_FLIGHT_S, ActionLocks, Holder, lock_key
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson
from bot.state.tables import work_units

KEY = lock_key("APP.buddy.works", "acme", "web", 7, 42, "approve")


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


async def unit(state, unit_id: str, user: str) -> None:
    """A click's unit of work, as intake keeps it: its payload names who clicked."""
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"}}
    async with state.begin() as db:
        await db.execute(work_units.insert().values(id=unit_id, kind="click", dedupe_key=f"click:{unit_id}",
                                                    payload=json.dumps(payload), status="running", attempts=1,
                                                    created_at=0.0))


async def test_one_holder_in_flight_and_for_ten_seconds_after_it_is_done(state):
    clock = Clock()
    locks = ActionLocks(state, clock=clock)
    await unit(state, "u-ana", "U_ANA")
    assert await locks.take(KEY, "u-ana") is None
    assert await locks.take(KEY, "u-bo") == Holder("U_ANA", done=False)  # in flight
    assert await locks.take(lock_key("app.buddy.works", "acme", "web", 7, 42, "retry"), "u-bo") is None  # another operation
    assert await locks.take(KEY, "u-ana") is None  # the same unit, taken over after a crash

    await AuditTrail(state, clock=clock).record(unit_id="u-ana", person=SlackPerson("T1", "U_ANA"), buddy_user="ana",
                                               action="approve", ref=BuddyRef("app.buddy.works", "acme", "web", 7, "42"),
                                               run_url="x", result=DONE)
    await locks.done(KEY, "u-ana")
    clock.now += HOLD_AFTER_DONE_S - 1
    assert await locks.take(KEY, "u-bo") == Holder("U_ANA", done=True)  # just done
    clock.now += 2
    assert await locks.take(KEY, "u-bo") is None  # 10 s after: a new call may go


async def test_a_refused_call_lets_go_at_once_and_an_abandoned_one_lapses(state):
    clock = Clock()
    locks = ActionLocks(state, clock=clock)
    assert await locks.take(KEY, "u-bo") is None
    await locks.release(KEY, "u-bo")
    assert await locks.take(KEY, "u-ana") is None
    assert await locks.take(KEY, "u-cy") == Holder(None, done=False)  # its unit gone from the store: nobody to name
    clock.now += IN_FLIGHT_S + 1
    assert await locks.take(KEY, "u-cy") is None
    await locks.release(KEY, "u-ana")  # the lapsed holder's release does not free another's lock
    assert (await locks.take(KEY, "u-dee")) == Holder(None, done=False)


async def test_of_many_at_once_one_takes_it(state):
    locks = ActionLocks(state)
    taken = await asyncio.gather(*(locks.take(KEY, f"u{n}") for n in range(20)))
    assert sum(holder is None for holder in taken) == 1
