"""Following runs that are still going: the message about each is kept current until the run ends.

A watch is one row in the ``watches`` table (so it survives a restart) saying which run, which
message, and when to look next. One background loop wakes for the watches that are due and polls
each once (one Buddy lookup), however many there are: no task or thread per watch. A watch whose
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.buddy import errors
from bot.buddy.models import RunState
from bot.buddy.refs import BuddyRef, RefKind
from bot.config import Settings
from bot.explain import explain
from bot.lookup import Lookup
from bot.report import RunReport
from bot.store import Store

log = logging.getLogger(__name__)

BACKOFF_FACTOR = 1.5
MAX_CONCURRENT_POLLS = 10  # polite to Buddy's rate limit when many watches fall due together
# Errors that no amount of waiting mends: the run is gone, or the token may not read it.
PERMANENT_ERRORS = (errors.NotFound, errors.Unauthorized, errors.Forbidden)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    thread_ts TEXT,
    host TEXT NOT NULL,
    workspace TEXT NOT NULL,
    project TEXT NOT NULL,
    pipeline_id INTEGER NOT NULL,
    execution_id TEXT,
    action_execution_id TEXT,
    requested_by TEXT,
    style TEXT NOT NULL DEFAULT 'summary',
    started_at REAL NOT NULL,
    next_poll_at REAL NOT NULL,
    interval_s REAL NOT NULL,
    last_state TEXT,
    UNIQUE (channel, ts)
);
CREATE INDEX IF NOT EXISTS watches_due ON watches (next_poll_at);
"""


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
        store: Store,
        lookup: Lookup,
        publisher: Publisher,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lookup = lookup
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        self._task: asyncio.Task | None = None
        store.migrate(_SCHEMA)

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
    ) -> None:
        """Follow ``ref`` and keep the message ``(channel, ts)`` current; a second watch of the same
        message replaces the first. ``shown`` is the report the message was rendered from: the first
        poll then updates only if the run moved on since, and a pipeline link is pinned to its run."""
        if shown is not None:
            ref = shown.run_ref
        now = self.clock()
        self.store.execute(
            """INSERT OR REPLACE INTO watches (channel, ts, thread_ts, host, workspace, project, pipeline_id,
                   execution_id, action_execution_id, requested_by, style, started_at, next_poll_at, interval_s,
                   last_state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                channel,
                ts,
                thread_ts,
                ref.host,
                ref.workspace,
                ref.project,
                ref.pipeline_id,
                ref.execution_id,
                ref.action_execution_id,
                requested_by,
                style,
                now,
                now + self.settings.watch_poll_seconds,
                self.settings.watch_poll_seconds,
                run_state(shown) if shown is not None else None,
            ),
        )
        log.info("following %s in %s/%s", ref.web_url, channel, ts)
        self._wake.set()

    def watches(self) -> list[Watch]:
        return [_watch(row) for row in self.store.execute("SELECT * FROM watches ORDER BY next_poll_at")]

    def start(self) -> asyncio.Task:
        """Runs ``run()`` in the background (one task for all watches)."""
        self._task = asyncio.create_task(self.run(), name="watcher")
        return self._task

    async def run(self) -> None:
        """Polls due watches until ``stop()``; started once per process, it resumes the stored watches."""
        self._task = asyncio.current_task()
        if waiting := len(self.watches()):
            log.info("resuming %d watch(es) from before the restart", waiting)
        while True:
            await self.poll_due()
            self._wake.clear()
            delay = self._seconds_to_next()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def stop(self) -> None:
        """Ends the loop; a poll cut short is simply done again after the restart."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def poll_due(self) -> int:
        """Polls every watch that is due, once each, concurrently; returns how many were polled."""
        now = self.clock()
        due = [_watch(row) for row in self.store.execute("SELECT * FROM watches WHERE next_poll_at <= ?", (now,))]
        await asyncio.gather(*(self._poll_limited(watch) for watch in due))
        return len(due)

    def _seconds_to_next(self) -> float | None:
        row = self.store.execute("SELECT MIN(next_poll_at) AS next FROM watches").fetchone()
        if row is None or row["next"] is None:
            return None  # nothing to follow: sleep until watch() wakes the loop
        return max(0.0, row["next"] - self.clock())

    async def _poll_limited(self, watch: Watch) -> None:
        async with self._limit:
            try:
                await self._poll(watch)
            except Exception:  # one broken watch must not stop the loop that serves all of them
                log.exception("polling %s failed", watch.ref.web_url)
                self._later(watch, grow=True)

    async def _poll(self, watch: Watch) -> None:
        if not self.lookup.workspace_allowed(watch.ref):
            log.info("no longer allowed to read %s; not following it any more", watch.ref.workspace)
            self._forget(watch)
            return
        expired = self.clock() - watch.started_at >= self.settings.watch_max_seconds
        try:
            report = await self.lookup.report(watch.ref, fresh=True)
        except errors.BuddyError as exc:
            if isinstance(exc, PERMANENT_ERRORS) or expired:
                await self._end(watch, f"I stopped following this run: {explain(exc, watch.ref)}", None)
            else:
                log.info("polling %s: %s; trying again later", watch.ref.web_url, type(exc).__name__)
                self._later(watch, grow=True)
            return
        try:
            if report.is_finished:
                await self.publisher.finish(watch, report)
                self._forget(watch)
            elif expired:
                await self._end(watch, self._time_limit_note(), report)
            elif (state := run_state(report)) != watch.last_state:
                await self.publisher.update(watch, report)
                self._later(watch, grow=False, state=state)
            else:
                self._later(watch, grow=True)
        except WatchGone:
            log.info("the message %s/%s is gone; not following %s any more", watch.channel, watch.ts, watch.ref.web_url)
            self._forget(watch)

    async def _end(self, watch: Watch, reason: str, report: RunReport | None) -> None:
        try:
            await self.publisher.stop(watch, reason, report)
        finally:
            self._forget(watch)

    def _time_limit_note(self) -> str:
        span = _span(self.settings.watch_max_seconds)
        return f"I stopped following this run after {span}. Press Refresh to see where it is now and follow it again."

    def _later(self, watch: Watch, *, grow: bool, state: str | None = None) -> None:
        base = self.settings.watch_poll_seconds
        longest = max(base, self.settings.watch_backoff_max_seconds)
        interval = min(max(watch.interval_s * BACKOFF_FACTOR, base), longest) if grow else base
        self.store.execute(
            "UPDATE watches SET next_poll_at = ?, interval_s = ?, last_state = COALESCE(?, last_state) WHERE id = ?",
            (self.clock() + interval, interval, state, watch.id),
        )

    def _forget(self, watch: Watch) -> None:
        self.store.execute("DELETE FROM watches WHERE id = ?", (watch.id,))


def _span(seconds: float) -> str:
    """ "1 hour", "90 minutes", "45 seconds"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _watch(row) -> Watch:
    ref = BuddyRef(
        row["host"], row["workspace"], row["project"], row["pipeline_id"], row["execution_id"], row["action_execution_id"]
    )
    return Watch(
        id=row["id"],
        ref=ref,
        channel=row["channel"],
        ts=row["ts"],
        thread_ts=row["thread_ts"],
        requested_by=row["requested_by"],
        style=row["style"],
        started_at=row["started_at"],
        interval_s=row["interval_s"],
        last_state=row["last_state"],
    )
