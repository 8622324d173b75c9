"""Subscriptions, announced runs and the last final status per pipeline and branch, in the bot's SQLite store.

Three tables, all surviving restarts:
- ``subscriptions``: which channel follows which pipeline (or every pipeline of a project), how, since when;
- ``announced_runs``: the message posted for a run in a channel, keyed on (channel, run URL): the
  one thing that makes push, pull and restarts give one message per run per channel;
- ``final_statuses``: the last finished run per (pipeline, branch) and the status before it, because
  Buddy's webhooks carry no "back to green" event.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from bot.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    host TEXT NOT NULL COLLATE NOCASE,
    workspace TEXT NOT NULL COLLATE NOCASE,
    project TEXT NOT NULL COLLATE NOCASE,
    pipeline_id INTEGER NOT NULL,  -- 0: every pipeline of the project
    branch TEXT NOT NULL,          -- '': every branch
    mode TEXT NOT NULL,
    created_by TEXT,
    created_at REAL NOT NULL,
    UNIQUE (channel, host, workspace, project, pipeline_id, branch)
);
CREATE TABLE IF NOT EXISTS announced_runs (
    channel TEXT NOT NULL,
    run_url TEXT NOT NULL,
    ts TEXT NOT NULL,
    final INTEGER NOT NULL,  -- 0: the start was posted, the end not yet
    announced_at REAL NOT NULL,
    PRIMARY KEY (channel, run_url)
);
CREATE TABLE IF NOT EXISTS final_statuses (
    host TEXT NOT NULL COLLATE NOCASE,
    workspace TEXT NOT NULL COLLATE NOCASE,
    project TEXT NOT NULL COLLATE NOCASE,
    pipeline_id INTEGER NOT NULL,
    branch TEXT NOT NULL,
    run_url TEXT NOT NULL,
    run_order INTEGER NOT NULL,  -- the execution's number: higher is newer
    status TEXT NOT NULL,
    previous_status TEXT,
    PRIMARY KEY (host, workspace, project, pipeline_id, branch)
);
"""


class Mode(enum.StrEnum):
    FAILURES = "failures"  # a message when a run fails
    CHANGES = "changes"  # a message when a pipeline+branch goes red, or back to green
    ALL = "all"  # a message when a run starts, updated when it ends


@dataclass(frozen=True, slots=True)
class Target:
    """What a subscription follows: one pipeline, or (``pipeline_id`` None) every pipeline of a project."""

    host: str
    workspace: str
    project: str
    pipeline_id: int | None = None

    @property
    def web_url(self) -> str:
        url = f"https://{self.host}/{self.workspace}/{self.project}"
        return f"{url}/pipelines/pipeline/{self.pipeline_id}" if self.pipeline_id else f"{url}/pipelines"

    @property
    def label(self) -> str:
        where = f"{self.workspace}/{self.project}"
        return f"pipeline {self.pipeline_id} of {where}" if self.pipeline_id else f"every pipeline of {where}"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    channel: str
    target: Target
    branch: str | None
    mode: Mode
    created_by: str | None
    created_at: float  # Unix time: runs that finished before it are not announced


@dataclass(frozen=True, slots=True)
class Announcement:
    ts: str
    final: bool


@dataclass(frozen=True, slots=True)
class PipelineKey:
    host: str
    workspace: str
    project: str
    pipeline_id: int

    @property
    def folded(self) -> tuple[str, str, str, int]:
        """For comparing: Buddy's handles are case-insensitive, and people type them either way."""
        return self.host.lower(), self.workspace.lower(), self.project.lower(), self.pipeline_id


@dataclass(frozen=True, slots=True)
class FinalStatus:
    """What a finished run follows: the status of the run before it on the same pipeline and branch.

    ``latest`` is False for a run older than one already recorded (a late delivery): it tells
    nothing about the current state, so it is never a change.
    """

    previous: str | None
    latest: bool


class SubscriptionStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate(_SCHEMA)

    # -- subscriptions ------------------------------------------------------------------------------

    def subscribe(
        self, channel: str, target: Target, *, branch: str | None, mode: Mode, user: str | None
    ) -> tuple[Subscription, Mode | None]:
        """Saves the subscription; subscribing again changes its mode. Returns it and the mode it had before."""
        existing = self._find(channel, target, branch)
        if existing is not None:
            self.store.execute("UPDATE subscriptions SET mode = ? WHERE id = ?", (mode.value, existing.id))
            return self._by_id(existing.id), existing.mode  # type: ignore[return-value]
        cursor = self.store.execute(
            "INSERT INTO subscriptions (channel, host, workspace, project, pipeline_id, branch, mode, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                channel,
                target.host,
                target.workspace,
                target.project,
                target.pipeline_id or 0,
                branch or "",
                mode.value,
                user,
                time.time(),
            ),
        )
        return self._by_id(cursor.lastrowid), None  # type: ignore[arg-type,return-value]

    def unsubscribe(self, channel: str, target: Target, *, branch: str | None) -> list[Subscription]:
        """Removes the channel's subscriptions to ``target``: the one for ``branch``, or all of them."""
        rows = self.store.execute(
            "SELECT * FROM subscriptions WHERE channel = ? AND host = ? AND workspace = ? AND project = ?"
            " AND pipeline_id = ? AND (? IS NULL OR branch = ?)",
            (channel, target.host, target.workspace, target.project, target.pipeline_id or 0, branch, branch or ""),
        ).fetchall()
        removed = [_subscription(row) for row in rows]
        for subscription in removed:
            self.store.execute("DELETE FROM subscriptions WHERE id = ?", (subscription.id,))
        return removed

    def remove(self, channel: str, subscription_id: int) -> Subscription | None:
        """Removes one subscription by id, only from the channel it belongs to."""
        found = self._by_id(subscription_id)
        if found is None or found.channel != channel:
            return None
        self.store.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
        return found

    def for_channel(self, channel: str) -> list[Subscription]:
        rows = self.store.execute("SELECT * FROM subscriptions WHERE channel = ? ORDER BY id", (channel,)).fetchall()
        return [_subscription(row) for row in rows]

    def matching(self, pipeline: PipelineKey) -> list[Subscription]:
        """Subscriptions to this pipeline or to its whole project, any branch, oldest first."""
        rows = self.store.execute(
            "SELECT * FROM subscriptions WHERE host = ? AND workspace = ? AND project = ? AND pipeline_id IN (0, ?) ORDER BY id",
            (pipeline.host, pipeline.workspace, pipeline.project, pipeline.pipeline_id),
        ).fetchall()
        return [_subscription(row) for row in rows]

    def targets(self) -> list[Target]:
        """Every pipeline and project some channel follows, once each, whatever the number of channels."""
        rows = self.store.execute(
            "SELECT DISTINCT host, workspace, project, pipeline_id FROM subscriptions ORDER BY host, workspace, project, pipeline_id"
        ).fetchall()
        return [Target(row["host"], row["workspace"], row["project"], row["pipeline_id"] or None) for row in rows]

    def _find(self, channel: str, target: Target, branch: str | None) -> Subscription | None:
        row = self.store.execute(
            "SELECT * FROM subscriptions WHERE channel = ? AND host = ? AND workspace = ? AND project = ?"
            " AND pipeline_id = ? AND branch = ?",
            (channel, target.host, target.workspace, target.project, target.pipeline_id or 0, branch or ""),
        ).fetchone()
        return _subscription(row) if row else None

    def _by_id(self, subscription_id: int) -> Subscription | None:
        row = self.store.execute("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
        return _subscription(row) if row else None

    # -- what was posted where ---------------------------------------------------------------------

    def announcement(self, channel: str, run_url: str) -> Announcement | None:
        row = self.store.execute(
            "SELECT ts, final FROM announced_runs WHERE channel = ? AND run_url = ?", (channel, run_url)
        ).fetchone()
        return Announcement(row["ts"], bool(row["final"])) if row else None

    def record_announcement(self, channel: str, run_url: str, *, ts: str, final: bool) -> None:
        self.store.execute(
            "INSERT INTO announced_runs (channel, run_url, ts, final, announced_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, run_url) DO UPDATE SET ts = excluded.ts, final = excluded.final",
            (channel, run_url, ts, int(final), time.time()),
        )

    # -- last final status per pipeline and branch -------------------------------------------------

    def record_final(self, pipeline: PipelineKey, branch: str, *, run_url: str, run_order: int, status: str) -> FinalStatus:
        """Records a finished run and returns the status before it. Idempotent: the same run seen
        again (by webhook and by polling, or after a restart) gets the same answer."""
        key = (pipeline.host, pipeline.workspace, pipeline.project, pipeline.pipeline_id, branch)
        row = self.store.execute(
            "SELECT run_url, run_order, status, previous_status FROM final_statuses"
            " WHERE host = ? AND workspace = ? AND project = ? AND pipeline_id = ? AND branch = ?",
            key,
        ).fetchone()
        if row is not None and row["run_url"] == run_url:
            return FinalStatus(previous=row["previous_status"], latest=True)
        if row is not None and row["run_order"] > run_order:
            return FinalStatus(previous=None, latest=False)
        previous = row["status"] if row is not None else None
        self.store.execute(
            "INSERT OR REPLACE INTO final_statuses"
            " (host, workspace, project, pipeline_id, branch, run_url, run_order, status, previous_status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, run_url, run_order, status, previous),
        )
        return FinalStatus(previous=previous, latest=True)


def _subscription(row) -> Subscription:
    return Subscription(
        id=row["id"],
        channel=row["channel"],
        target=Target(row["host"], row["workspace"], row["project"], row["pipeline_id"] or None),
        branch=row["branch"] or None,
        mode=Mode(row["mode"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
