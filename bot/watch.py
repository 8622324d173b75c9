"""Following runs that are still going: the message about each is kept current until the run ends.

A watch is one row in the ``watches`` table of the state store (so it survives a restart) saying
which run, which message, and when to look next. One background loop per process wakes for the
watches that are due and polls each once (one Buddy lookup), however many there are: no task or
thread per watch. Replicas share the table: a poll takes the watch under a lease (WORK_LEASE_S), so
one replica at a time polls it, and another takes it over when the lease runs out. A watch whose
run has not changed waits longer each time (from WATCH_POLL_SECONDS, ×1.5, up to
WATCH_BACKOFF_MAX_SECONDS); a change brings it back to the shortest wait. After WATCH_MAX_SECONDS
it stops with a last update that says so.

What "publish" means (a Slack message edited in place, a log in its thread) is the publisher's
business: this module knows nothing about Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from bot.buddy import errors
from bot.buddy.models import RunState
from bot.buddy.refs import BuddyRef, RefKind
from bot.config import Settings
from bot.explain import explain
from bot.home.records import WaitingRuns
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.lookup import Lookup
from bot.report import RunReport
from bot.state.batch import GroupCommit
from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import watches as watches_table

log = logging.getLogger(__name__)

BACKOFF_FACTOR = 1.5
MAX_CONCURRENT_POLLS = 10  # polite to Buddy's rate limit when many watches fall due together
# Errors that no amount of waiting mends: the run is gone, or the token may not read it.
PERMANENT_ERRORS = (errors.NotFound, errors.Unauthorized, errors.Forbidden)
# The lookup to read a watch with: its Slack workspace's, as the person it is read for
# (bot.answers.Responder.reader); NotLinked when that person's account is gone.
Reader = Callable[["Watch"], Awaitable[Lookup]]


@dataclass(frozen=True)
class Watch:
    """One followed run and the message that shows it. ``style`` says how the publisher renders it."""

    id: int
    ref: BuddyRef
    channel: str
    ts: str
    thread_ts: str | None
    requested_by: str | None
    style: str
    started_at: float
    interval_s: float
    last_state: str | None
    taken_over: bool = False  # the replica polling it before died mid-poll: its last writes may have landed
    reader: SlackPerson | None = None  # READ_AS_ASKER: whose token reads the run
    team: str | None = None  # the Slack installation whose bot token edits the message (its key; None: the one token)
    kept: list[dict] = field(default_factory=list)  # blocks every redraw keeps (who acted on the run)

    @property
    def thread(self) -> str:
        """Where replies about the message go: its thread, or the thread it is itself in."""
        return self.thread_ts or self.ts


class WatchGone(Exception):
    """Raised by a publisher when the message can no longer be updated (deleted, channel archived,
    bot removed): the watch ends without another word."""


class Publisher(Protocol):
    async def update(self, watch: Watch, report: RunReport) -> None:
        """The run changed and is still going: show it."""

    async def finish(self, watch: Watch, report: RunReport) -> None:
        """The run ended: the last update, and its log."""

    async def stop(self, watch: Watch, reason: str, report: RunReport | None) -> None:
        """The watch ends before the run does (time limit, a lasting Buddy error): say so, and why."""


def run_state(report: RunReport) -> str:
    """What, when it changes, is worth an update: the status of what the link names (an action, or the
    execution with each of its actions), and the approver.

    Each part comes from one Buddy response, so a poll that lands mid-change cannot see a mix. Not
    the durations and progress that tick on every poll: Slack allows about 50 updates a minute per
    workspace, and the final update shows the real figures.
    """

    def status(run: RunState | None) -> list:
        return [] if run is None else [run.status, run.finish_date is not None]

    if report.ref.kind is RefKind.ACTION_EXECUTION:
        shown: list = [status(report.action)]
    else:
        shown = [status(report.execution), [[action.id_from_url, *status(action)] for action in report.actions]]
    return json.dumps([*shown, report.approver_name])


class Watcher:
    """``watch()`` records a watch; ``run()`` is the one background loop; ``stop()`` ends it.

    ``clock`` is wall-clock seconds (watches outlive the process); tests pass their own.
    """

    def __init__(
        self,
        state: StateStore,
        lookup: Lookup,
        publisher: Publisher,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.state = state
        self.lookup = lookup
        self.reader = reader
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.owner = owner or uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        self._rescheduled: GroupCommit[tuple[Watch, dict], None] = GroupCommit(self._write_later)
        self._task: asyncio.Task | None = None

    async def watch(
        self,
        ref: BuddyRef,
        *,
        channel: str,
        ts: str,
        thread_ts: str | None = None,
        requested_by: str | None = None,
        style: str = "summary",
        shown: RunReport | None = None,
        reader: SlackPerson | None = None,
        team: str | None = None,
        kept: list[dict] | None = None,
    ) -> None:
        """Follow ``ref`` and keep the message ``(channel, ts)`` current; a second watch of the same
        message replaces the first. ``shown`` is the report the message was rendered from: the first
        poll then updates only if the run moved on since, and a pipeline link is pinned to its run."""
        if shown is not None:
            ref = shown.run_ref
        now = self.clock()
        values = dict(
            thread_ts=thread_ts,
            host=ref.host,
            workspace=ref.workspace,
            project=ref.project,
            pipeline_id=ref.pipeline_id,
            execution_id=ref.execution_id,
            action_execution_id=ref.action_execution_id,
            requested_by=requested_by,
            reader_team=reader.team if reader else None,
            reader_user=reader.user if reader else None,
            team=team,
            kept_blocks=json.dumps(kept) if kept else None,
            style=style,
            started_at=now,
            next_poll_at=now + self.settings.watch_poll_seconds,
            interval_s=self.settings.watch_poll_seconds,
            last_state=run_state(shown) if shown is not None else None,
            owner=None,
            lease_until=None,
            taken_from=None,
        )
        table = watches_table
        async with self.state.begin() as db:
            replaced = await db.execute(update(table).where(table.c.channel == channel, table.c.ts == ts).values(**values))
            if replaced.rowcount == 0:
                await db.execute(insert(table).values(channel=channel, ts=ts, **values))
        log.info("following %s in %s/%s", ref.web_url, channel, ts)
        self._wake.set()

    async def watches(self) -> list[Watch]:
        async with self.state.begin() as db:
            return [_watch(row) for row in await db.execute(select(watches_table).order_by(watches_table.c.next_poll_at))]

    def start(self) -> asyncio.Task:
        """Runs ``run()`` in the background (one task for all watches)."""
        self._task = asyncio.create_task(self.run(), name="watcher")
        return self._task

    async def run(self) -> None:
        """Polls due watches until ``stop()``; started once per process, it resumes the stored watches."""
        self._task = asyncio.current_task()
        if self.state.is_sqlite:
            await self._lapse_all_leases()
        if waiting := len(await self.watches()):
            log.info("resuming %d watch(es) from before the restart", waiting)
        while True:
            await self.poll_due()
            self._wake.clear()
            delay = await self._seconds_to_next()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def stop(self) -> None:
        """Ends the loop; a poll cut short is simply done again after the restart."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll_due(self) -> int:
        """Polls every watch that is due and not leased by another replica, once each, concurrently;
        returns how many were polled. Taking them is one conditional UPDATE: two replicas running it
        at once each get a different share."""
        now = self.clock()
        table = watches_table
        free = or_(table.c.lease_until.is_(None), table.c.lease_until < now)
        async with self.state.begin() as db:
            taken = await db.execute(
                update(table)
                .where(table.c.next_poll_at <= now, free)
                # taken_from is the owner before this UPDATE: set when a dead replica left it mid-poll.
                .values(owner=self.owner, lease_until=now + self.settings.work_lease_s, taken_from=table.c.owner)
                .returning(*table.c)
            )
            due = [_watch(row) for row in taken]
        if not due:
            return 0
        renewing = asyncio.create_task(self._renew_leases([watch.id for watch in due]))
        try:
            await asyncio.gather(*(self._poll_limited(watch) for watch in due))
        finally:
            renewing.cancel()
        return len(due)

    async def _renew_leases(self, ids: list[int]) -> None:
        """A poll can outlast a lease (a slow Buddy, retries): while it runs, the lease is extended, so
        no other replica polls the same watch at the same time."""
        table = watches_table
        while True:
            await asyncio.sleep(self.settings.work_lease_s / 3)
            with contextlib.suppress(StateUnavailable):
                async with self.state.begin() as db:
                    await db.execute(
                        update(table)
                        .where(table.c.id.in_(ids), table.c.owner == self.owner)
                        .values(lease_until=self.clock() + self.settings.work_lease_s)
                    )

    async def _seconds_to_next(self) -> float:
        """Until the next watch is due (or its lease by another replica runs out); never longer than
        a lease, so that watches other replicas add or abandon are seen in time."""
        table = watches_table
        ready_at = case((table.c.lease_until > table.c.next_poll_at, table.c.lease_until), else_=table.c.next_poll_at)
        async with self.state.begin() as db:
            soonest = (await db.execute(select(func.min(ready_at)))).scalar()
        longest = min(self.settings.work_lease_s, self.settings.watch_backoff_max_seconds)
        if soonest is None:
            return longest
        return min(max(0.0, soonest - self.clock()), longest)

    async def _poll_limited(self, watch: Watch) -> None:
        try:
            await self._poll(watch)
        except Exception:  # one broken watch must not stop the loop that serves all of them
            log.exception("polling %s failed", watch.ref.web_url)
            await self._later(watch, grow=True)

    async def _poll(self, watch: Watch) -> None:
        expired = self.clock() - watch.started_at >= self.settings.watch_max_seconds
        try:
            lookup = await self.reader(watch) if self.reader is not None else self.lookup
            allowed = lookup.workspace_allowed(watch.ref)  # by the settings of the watch's Slack workspace
            # Only the read takes one of the MAX_CONCURRENT_POLLS: writing the next poll's time down does not.
            async with self._limit:
                report = await lookup.report(watch.ref, fresh=True) if allowed else None
        except NotLinked:
            # The person it is read as unlinked (or their sign-in ran out): nobody may read it for them.
            await self._end(watch, "I stopped following this run: the Buddy account it was read with is no longer linked.", None)
            return
        except errors.BuddyError as exc:
            if isinstance(exc, PERMANENT_ERRORS) or expired:
                await self._end(watch, f"I stopped following this run: {explain(exc, watch.ref)}", None)
            else:
                log.info("polling %s: %s; trying again later", watch.ref.web_url, type(exc).__name__)
                await self._later(watch, grow=True)
            return
        if report is None:
            log.info("no longer allowed to read %s; not following it any more", watch.ref.workspace)
            await self._forget(watch)
            return
        await WaitingRuns.of(self.state).seen(watch.team, report)  # the Home tab's runs waiting for an approval
        try:
            if report.is_finished:
                await self.publisher.finish(watch, report)
                await self._forget(watch)
            elif expired:
                await self._end(watch, self._time_limit_note(), report)
            elif (state := run_state(report)) != watch.last_state:
                await self.publisher.update(watch, report)
                await self._later(watch, grow=False, state=state)
            else:
                await self._later(watch, grow=True)
        except WatchGone:
            log.info("the message %s/%s is gone; not following %s any more", watch.channel, watch.ts, watch.ref.web_url)
            await self._forget(watch)

    async def _end(self, watch: Watch, reason: str, report: RunReport | None) -> None:
        try:
            await self.publisher.stop(watch, reason, report)
        finally:
            await self._forget(watch)

    def _time_limit_note(self) -> str:
        span = _span(self.settings.watch_max_seconds)
        return f"I stopped following this run after {span}. Press Refresh to see where it is now and follow it again."

    async def _later(self, watch: Watch, *, grow: bool, state: str | None = None) -> None:
        base = self.settings.watch_poll_seconds
        longest = max(base, self.settings.watch_backoff_max_seconds)
        interval = min(max(watch.interval_s * BACKOFF_FACTOR, base), longest) if grow else base
        values: dict = dict(next_poll_at=self.clock() + interval, interval_s=interval, owner=None, lease_until=None)
        if state is not None:
            values["last_state"] = state
        await self._rescheduled.submit((watch, values))

    async def _write_later(self, batch: list[tuple[Watch, dict]]) -> list[None]:
        """The next poll of every watch polled meanwhile, in one transaction (bot.state.batch)."""
        async with self.state.begin() as db:
            for watch, values in batch:
                await db.execute(update(watches_table).where(self._mine(watch)).values(**values))
        return [None] * len(batch)

    async def _forget(self, watch: Watch) -> None:
        async with self.state.begin() as db:
            await db.execute(delete(watches_table).where(self._mine(watch)))

    def _mine(self, watch: Watch) -> ColumnElement[bool]:
        """The watch as this poll took it: one replaced meanwhile (Refresh) keeps its new state."""
        return and_(watches_table.c.id == watch.id, watches_table.c.owner == self.owner)

    async def _lapse_all_leases(self) -> None:
        """A lone SQLite process starting: every lease left is its own from before a crash, so its
        watches are due now, not when those leases run out (the owner stays, as ``taken_from``)."""
        async with self.state.begin() as db:
            await db.execute(update(watches_table).where(watches_table.c.lease_until.is_not(None)).values(lease_until=0.0))

    async def release(self) -> None:
        """Hands back the leases of watches this process holds, so another replica polls them at once."""
        async with self.state.begin() as db:
            await db.execute(
                update(watches_table).where(watches_table.c.owner == self.owner).values(owner=None, lease_until=None)
            )


def _span(seconds: float) -> str:
    """ "1 hour", "90 minutes", "45 seconds"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _watch(row: Row) -> Watch:
    ref = BuddyRef(row.host, row.workspace, row.project, row.pipeline_id, row.execution_id, row.action_execution_id)
    return Watch(
        id=row.id,
        ref=ref,
        channel=row.channel,
        ts=row.ts,
        thread_ts=row.thread_ts,
        requested_by=row.requested_by,
        style=row.style,
        started_at=row.started_at,
        interval_s=row.interval_s,
        last_state=row.last_state,
        taken_over=row.taken_from is not None,
        reader=SlackPerson(row.reader_team or "", row.reader_user) if row.reader_user else None,
        team=row.team,
        kept=_kept(row.kept_blocks),
    )


def _kept(stored: str | None) -> list[dict]:
    try:
        blocks = json.loads(stored) if stored else []
    except ValueError:
        return []
    return [block for block in blocks if isinstance(block, dict)] if isinstance(blocks, list) else []
