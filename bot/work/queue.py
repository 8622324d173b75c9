"""Units of work, their leases and their effects, in the state store.

A unit is inserted (``accept``) before the acknowledgement leaves, keyed by what makes a redelivery
the same request (a command's ``trigger_id``, a message's channel and ts): a second delivery, a
replay, or Slack's retry reaching another replica finds the key taken and is not answered again.

The worker that accepted a unit holds it under a lease of ``WORK_LEASE_S``, renewed while it works.
When a worker dies its leases run out, and any replica (or the restarted process) takes the unit
over and runs it again from its payload. A worker that is alive but was held up past its lease (a
starved machine) may have lost the unit meanwhile: before each effect it makes sure the lease still
has half its length to run, renewing it if not, and stops (``LeaseLost``) if another worker has it. Each effect (a post, an upload, an edit) is recorded when
done, so a take-over repeats none and skips none; for an effect in flight at the crash, the take-over
asks the effect's own ``find`` whether it landed before doing it again.

While the store is down (``StoreHealth``), units live in memory only and are written down as answered
once it is back, so that Slack's later retries of them are not answered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bot.ops.metrics import Metrics, WorkEvent
from bot.state.batch import GroupCommit
from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import work_effects, work_units
from bot.work.health import StoreHealth

log = logging.getLogger(__name__)

RUNNING, DONE = "running", "done"
MAX_ATTEMPTS = 5  # a unit that kept its worker from finishing this often is given up, with a log line
TAKE_OVER_BATCH = 50
DEGRADED_RETRY_S = 1.0
UPKEEP_MAX_S = 1.0
ACKS_FIRST_S = 0.5  # the longest a unit's work waits for the requests being taken in with it
# Done units are kept this long (so a redelivery of their request is still recognised: Slack retries
# within minutes), then deleted with their effects, so the store does not grow without end.
DONE_KEPT_S = 24 * 3600
PRUNE_EVERY_S = 600.0
Result = dict[str, Any]
Handler = Callable[["Unit"], Awaitable[None]]


class LeaseLost(BaseException):
    """Another worker took this unit over (this one was held up past its lease): it finishes the
    unit, and this one stops at once. A BaseException, like cancellation, so that no handler's
    ``except Exception`` turns it into a reply."""


@dataclass
class Unit:
    id: str
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    started_at: float
    degraded: bool = False  # held in memory only: the store was down when it came in
    lease_until: float = math.inf  # as last written by this worker (a watch's unit: leased elsewhere)
    effects: dict[str, Result] = field(default_factory=dict)  # recorded so far (a take-over loads them)

    @property
    def taken_over(self) -> bool:
        """Run again after a worker died: an effect not recorded may still have landed."""
        return self.attempts > 1


class WorkQueue:
    def __init__(
        self,
        state: StateStore,
        *,
        owner: str | None = None,
        lease_s: float = 30.0,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.owner = owner or uuid.uuid4().hex
        self.lease_s = lease_s
        self.health = health or StoreHealth()
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        # The task each unit runs in (a listener's, or one that runs many units in turn: a channel's
        # announcements), and the event set when the unit itself is finished.
        self._running: dict[str, asyncio.Task] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._units: dict[str, Unit] = {}  # the units being run, by id
        self._answered_in_memory: dict[str, Unit] = {}  # degraded: keys answered, to write down later
        # Writes of many units at once (a burst) share a transaction each: see bot.state.batch.
        self._inserts: GroupCommit[dict[str, Any], bool] = GroupCommit(self._insert_units)
        self._accepting = 0
        self._accepts_done = asyncio.Event()
        self._accepts_done.set()
        self._effects: GroupCommit[dict[str, Any], None] = GroupCommit(self._insert_effects)
        self._dones: GroupCommit[str, None] = GroupCommit(self._mark_done)
        self._fences: GroupCommit[Unit, bool] = GroupCommit(self._extend_leases)

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    # -- taking work in ----------------------------------------------------------------------------

    async def accept(self, kind: str, key: str, payload: dict[str, Any]) -> Unit | None:
        """Records a new unit under this worker's lease; None when ``key`` was accepted before."""
        now = self.clock()
        unit = Unit(uuid.uuid4().hex, kind, key, payload, attempts=1, started_at=now, lease_until=now + self.lease_s)
        if key in self._answered_in_memory:
            return None
        row = dict(
            id=unit.id,
            kind=kind,
            dedupe_key=key,
            payload=json.dumps(payload),
            status=RUNNING,
            owner=self.owner,
            lease_until=now + self.lease_s,
            attempts=1,
            created_at=now,
            started_at=now,
        )
        self._accepting += 1
        self._accepts_done.clear()
        try:
            if not await self._inserts.submit(row):
                return None
        except StateUnavailable as exc:
            self.health.failed(str(exc))
            unit.degraded = True
            self._answered_in_memory[key] = unit
        finally:
            self._accepting -= 1
            if not self._accepting:
                self._accepts_done.set()
        return unit

    async def _insert_units(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Inserts new units; False for a key already taken (before, or earlier in this batch)."""
        first: dict[str, int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row["dedupe_key"], index)
        fresh = [rows[index] for index in first.values()]
        # Rows as parameters (executemany), not in .values(): one compiled statement for any number of
        # rows, where a multi-row VALUES is compiled afresh each time (about 0.4 ms a row).
        statement = self._insert(work_units).on_conflict_do_nothing(index_elements=["dedupe_key"])
        async with self.state.begin() as db:
            inserted = set((await db.execute(statement.returning(work_units.c.dedupe_key), fresh)).scalars())
        return [first[row["dedupe_key"]] == index and row["dedupe_key"] in inserted for index, row in enumerate(rows)]

    async def _insert_effects(self, rows: list[dict[str, Any]]) -> list[None]:
        # A conflict: recorded by the worker this unit was taken from, after it lost the lease.
        statement = self._insert(work_effects).on_conflict_do_nothing(index_elements=["unit_id", "name"])
        async with self.state.begin() as db:
            await db.execute(statement, rows)
        return [None] * len(rows)

    async def _mark_done(self, unit_ids: list[str]) -> list[None]:
        async with self.state.begin() as db:
            await db.execute(
                update(work_units)
                .where(work_units.c.id.in_(unit_ids), work_units.c.owner == self.owner)
                .values(status=DONE, done_at=self.clock(), owner=None, lease_until=None, payload="{}")
            )
        return [None] * len(unit_ids)

    async def _extend_leases(self, units: list[Unit]) -> list[bool]:
        """Renews these units' leases; False for a unit this worker no longer holds."""
        until = self.clock() + self.lease_s
        ids = [unit.id for unit in units]
        async with self.state.begin() as db:
            held = set(
                (
                    await db.execute(
                        update(work_units)
                        .where(work_units.c.id.in_(ids), work_units.c.owner == self.owner, work_units.c.status == RUNNING)
                        .values(lease_until=until)
                        .returning(work_units.c.id)
                    )
                ).scalars()
            )
        for unit in units:
            if unit.id in held:
                unit.lease_until = until
        return [unit.id in held for unit in units]

    def _insert(self, table: Any) -> Any:
        """INSERT … ON CONFLICT DO NOTHING, in the store's own dialect."""
        return sqlite_insert(table) if self.state.is_sqlite else postgresql_insert(table)

    def start(self, unit: Unit) -> asyncio.Task:
        """Runs the unit's handler in the background (the acknowledgement is not held up)."""
        return asyncio.create_task(self.run(unit), name=f"unit-{unit.kind}-{unit.id[:8]}")

    async def run(self, unit: Unit) -> None:
        """Runs the unit's handler to the end, its lease renewed meanwhile, then marks it done."""
        task = asyncio.current_task()
        assert task is not None
        self._running[unit.id] = task
        self._finished[unit.id] = finished = asyncio.Event()
        self._units[unit.id] = unit
        try:
            await self._run(unit)
        finally:
            self._running.pop(unit.id, None)
            self._finished.pop(unit.id, None)
            self._units.pop(unit.id, None)
            finished.set()

    async def _run(self, unit: Unit) -> None:
        # Acknowledgements first: while requests are being taken in (a burst), the work waits, a
        # little, so that none of them misses Slack's 3 s for work that can start a moment later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._accepts_done.wait(), ACKS_FIRST_S)
        handler = self._handlers.get(unit.kind)
        try:
            if handler is None:
                log.error("no handler for work of kind %r; unit %s dropped", unit.kind, unit.id)
            else:
                await handler(unit)
        except asyncio.CancelledError:
            raise  # shutting down: the lease is handed back, another worker finishes it
        except LeaseLost:
            log.warning("unit %s (%s): another worker took it over while this one was held up; left to it", unit.id, unit.kind)
            if self.metrics is not None:
                self.metrics.work_unit_event("lease_lost")
            return
        except Exception:
            # Handlers tell the person themselves; this is a bug, and running it again would repeat it.
            log.exception("unit %s (%s) failed", unit.id, unit.kind)
        await self._done(unit)

    async def _done(self, unit: Unit) -> None:
        if unit.degraded:
            if self.metrics is not None:
                self.metrics.work_unit_event("done_degraded")
            return
        try:
            await self._dones.submit(unit.id)
        except StateUnavailable as exc:
            # The effects are out; only the record is missing. The unit may be taken over once the
            # store is back, and its recorded (or found) effects are then not repeated.
            self.health.failed(str(exc))
            return

    # -- effects -----------------------------------------------------------------------------------

    async def effect(
        self,
        unit: Unit,
        name: str,
        do: Callable[[], Awaitable[Result]],
        *,
        find: Callable[[], Awaitable[Result | None]] | None = None,
    ) -> Result:
        """Does ``do`` once for this unit: a recorded result is returned as it is; a take-over first
        asks ``find`` whether the effect landed before the crash. ``do`` and ``find`` return what a
        later step needs (a message's ts), JSON-serialisable."""
        if name in unit.effects:
            return unit.effects[name]
        if unit.taken_over and find is not None:
            found = await find()
            if found is not None:
                log.info("unit %s: %s had landed before the take-over; not repeated", unit.id, name)
                await self._record(unit, name, found)
                return found
        await self._hold(unit)
        result = await do()
        await self._record(unit, name, result)
        return result

    async def _hold(self, unit: Unit) -> None:
        """Makes sure this worker still holds ``unit`` for half a lease (time for the effect to
        land before anyone may take the unit over and look for it); raises LeaseLost if not."""
        if unit.degraded or self.clock() + self.lease_s / 2 <= unit.lease_until:
            return
        try:
            held = await self._fences.submit(unit)
        except StateUnavailable as exc:
            # Nobody can take the unit over while the store is down: answering beats waiting.
            self.health.failed(str(exc))
            return
        if not held:
            raise LeaseLost(unit.id)

    async def _record(self, unit: Unit, name: str, result: Result) -> None:
        unit.effects[name] = result
        if unit.degraded:
            return
        try:
            await self._effects.submit(dict(unit_id=unit.id, name=name, result=json.dumps(result), recorded_at=self.clock()))
        except StateUnavailable as exc:
            self.health.failed(str(exc))

    async def unit_of(self, unit_id: str, kind: str, *, taken_over: bool, started_at: float) -> Unit:
        """A unit for work whose lease lives elsewhere (a watch's row): its effects are recorded here
        all the same, and a take-over sees those already done."""
        unit = Unit(unit_id, kind, key="", payload={}, attempts=2 if taken_over else 1, started_at=started_at)
        if taken_over:
            try:
                async with self.state.begin() as db:
                    recorded = await db.execute(
                        select(work_effects.c.name, work_effects.c.result).where(work_effects.c.unit_id == unit_id)
                    )
                    unit.effects = {name: json.loads(result) for name, result in recorded}
            except StateUnavailable as exc:
                self.health.failed(str(exc))
        return unit

    # -- leases ------------------------------------------------------------------------------------

    async def renew(self) -> None:
        """Extends the leases of the units this worker is running."""
        if not self._running:
            return
        until = self.clock() + self.lease_s
        async with self.state.begin() as db:
            held = (
                await db.execute(
                    update(work_units)
                    .where(work_units.c.owner == self.owner, work_units.c.status == RUNNING)
                    .values(lease_until=until)
                    .returning(work_units.c.id)
                )
            ).scalars()
            for unit_id in held:
                if unit_id in self._units:
                    self._units[unit_id].lease_until = until

    async def take_over(self, *, everything: bool = False) -> int:
        """Takes the units whose lease ran out (``everything``: every unfinished one, for a lone
        SQLite process starting up: whatever is unfinished was its own before the restart) and
        starts them; returns how many."""
        now = self.clock()
        lapsed = work_units.c.status == RUNNING
        if not everything:
            lapsed = lapsed & (work_units.c.lease_until < now)
        async with self.state.begin() as db:
            candidates = (await db.execute(select(work_units.c.id).where(lapsed).limit(TAKE_OVER_BATCH))).scalars().all()
        taken = 0
        for unit_id in candidates:
            if unit_id in self._running:
                continue  # still being worked on here: its lease is renewed, not taken over by itself
            unit = await self._take(unit_id, lapsed, now)
            if unit is None:
                continue
            taken += 1
            if unit.attempts > MAX_ATTEMPTS:
                log.error("unit %s (%s) was started %d times without finishing; giving up", unit.id, unit.kind, unit.attempts - 1)
                await self._done(unit)
                continue
            event: WorkEvent = "retried" if everything else "taken_over"  # everything: its own, from before a restart
            if self.metrics is not None:
                self.metrics.work_unit_event(event)
            log.info("taking over unit %s (%s), attempt %d", unit.id, unit.kind, unit.attempts)
            self.start(unit)
        return taken

    async def _take(self, unit_id: str, lapsed: Any, now: float) -> Unit | None:
        """One conditional UPDATE: of two replicas taking the same unit, one gets the row."""
        async with self.state.begin() as db:
            row = (
                await db.execute(
                    update(work_units)
                    .where(work_units.c.id == unit_id, lapsed)
                    .values(owner=self.owner, lease_until=now + self.lease_s, attempts=work_units.c.attempts + 1)
                    .returning(*work_units.c)
                )
            ).first()
            if row is None:
                return None
            recorded = await db.execute(
                select(work_effects.c.name, work_effects.c.result).where(work_effects.c.unit_id == unit_id)
            )
            effects = {name: json.loads(result) for name, result in recorded}
        return Unit(
            row.id,
            row.kind,
            row.dedupe_key,
            json.loads(row.payload),
            attempts=row.attempts,
            started_at=row.started_at or row.created_at,
            effects=effects,
            lease_until=now + self.lease_s,
        )

    async def release(self) -> None:
        """Hands back the leases of units still running here, so another replica takes them at once."""
        async with self.state.begin() as db:
            await db.execute(
                update(work_units).where(work_units.c.owner == self.owner, work_units.c.status == RUNNING).values(lease_until=0.0)
            )

    # -- degraded mode -----------------------------------------------------------------------------

    async def recover(self) -> bool:
        """While degraded: True once the store takes writes again and what was answered meanwhile
        is written down (as done units, so retries of those requests are not answered again)."""
        if not self.health.degraded and self.state.down is None:
            return True
        try:
            await self.state.check(self.owner)
            now = self.clock()
            for key, unit in list(self._answered_in_memory.items()):
                if unit.id in self._running:
                    continue  # still being answered: written down when next this runs
                try:
                    async with self.state.begin() as db:
                        await db.execute(
                            insert(work_units).values(
                                id=unit.id,
                                kind=unit.kind,
                                dedupe_key=key,
                                payload="{}",
                                status=DONE,
                                attempts=unit.attempts,
                                created_at=unit.started_at,
                                started_at=unit.started_at,
                                done_at=now,
                                degraded=True,
                            )
                        )
                except IntegrityError:
                    pass  # another replica answered the same request meanwhile, and recorded it
                del self._answered_in_memory[key]
        except StateUnavailable as exc:
            self.health.failed(str(exc))
            return False
        if self._answered_in_memory:
            return False
        self.health.recovered()
        return True

    # -- the background loop -------------------------------------------------------------------------

    async def maintain(self, *, interval: float | None = None) -> None:
        """Renews leases, takes over lapsed units and leaves degraded mode, until cancelled."""
        # At least once a second: a lease handed back (a replica shutting down) is taken at once.
        interval = interval if interval is not None else max(0.05, min(self.lease_s / 3, UPKEEP_MAX_S))
        # Renewing has its own loop: a long take-over or count must not let this worker's leases lapse.
        renewing = asyncio.create_task(self._keep_renewing(interval), name="work-lease-renewal")
        try:
            await self._upkeep(interval)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _keep_renewing(self, interval: float) -> None:
        while True:
            if not (self.health.degraded or self.state.down is not None):
                try:
                    await self.renew()
                except StateUnavailable as exc:
                    self.health.failed(str(exc))
                except Exception:
                    log.exception("renewing the work queue's leases failed; trying again")
            await asyncio.sleep(interval)

    async def _upkeep(self, interval: float) -> None:
        pruned_at = float("-inf")
        while True:
            try:
                if self.health.degraded or self.state.down is not None:  # any user of the store saw it fail
                    await self.recover()
                else:
                    await self.take_over()
                    await self._count()
                    if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                        pruned_at = time.monotonic()
                        await self.prune()
            except StateUnavailable as exc:
                self.health.failed(str(exc))
            except Exception:
                log.exception("the work queue's upkeep failed; trying again")
            # While degraded, look for the store's return often: /ready waits for it.
            outage = self.health.degraded or self.state.down is not None
            await asyncio.sleep(min(interval, DEGRADED_RETRY_S) if outage else interval)

    async def prune(self) -> None:
        """Deletes done units, and recorded effects, older than DONE_KEPT_S."""
        before = self.clock() - DONE_KEPT_S
        async with self.state.begin() as db:
            await db.execute(delete(work_units).where(work_units.c.status == DONE, work_units.c.done_at < before))
            await db.execute(delete(work_effects).where(work_effects.c.recorded_at < before))

    async def _count(self) -> None:
        if self.metrics is None:
            return
        async with self.state.begin() as db:
            waiting = (
                await db.execute(
                    select(func.count()).where(work_units.c.status == RUNNING, work_units.c.lease_until < self.clock())
                )
            ).scalar()
        self.metrics.set_work_units("queued", waiting or 0)
        self.metrics.set_work_units("in_progress", len(self._running))

    async def drain(self, grace_s: float) -> None:
        """SIGTERM: units in progress get ``grace_s`` to finish; the rest are cancelled and handed back."""
        waits = {asyncio.create_task(event.wait()): unit_id for unit_id, event in self._finished.items()}
        if waits:
            # The units, not their tasks: a task that runs units in turn never ends by itself.
            _done, pending = await asyncio.wait(waits, timeout=grace_s)
            unfinished = {self._running[waits[wait]] for wait in pending if waits[wait] in self._running}
            for wait in pending:
                wait.cancel()
            for task in unfinished:
                task.cancel()
            for task in unfinished:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(StateUnavailable):
            await self.release()
