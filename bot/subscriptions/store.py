"""Subscriptions, announced runs and the last final status per pipeline and branch, in the state store.

Three tables (``bot.state.tables``), all surviving restarts and shared by replicas:
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

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from bot.state.store import StateStore
from bot.state.tables import announced_runs, final_statuses, subscriptions


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
class Followed:
    """A target as one Slack installation's subscriber follows it."""

    target: Target
    team: str | None
    subscriber: str | None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    channel: str
    target: Target
    branch: str | None
    mode: Mode
    created_by: str | None
    created_at: float  # Unix time: runs that finished before it are not announced
    team: str | None = None  # the Slack installation it was made in (bot.slack.clients.Workspace.key)


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


def _same(column: ColumnElement, value: str) -> ColumnElement[bool]:
    """Buddy's handles are case-insensitive, and people type them either way."""
    return func.lower(column) == value.lower()


def _target_is(table, target: Target) -> ColumnElement[bool]:
    return and_(
        _same(table.c.host, target.host),
        _same(table.c.workspace, target.workspace),
        _same(table.c.project, target.project),
        table.c.pipeline_id == (target.pipeline_id or 0),
    )


class SubscriptionStore:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    # -- subscriptions ------------------------------------------------------------------------------

    async def subscribe(
        self, channel: str, target: Target, *, branch: str | None, mode: Mode, user: str | None, team: str | None = None
    ) -> tuple[Subscription, Mode | None]:
        """Saves the subscription; subscribing again changes its mode. Returns it and the mode it had before."""
        for _ in range(2):  # a second try only when another replica inserted the same one meanwhile
            existing = await self._find(channel, target, branch)
            if existing is not None:
                async with self.state.begin() as db:
                    # Subscribing again also records the workspace of one made before that was kept.
                    again = {"mode": mode.value, **({"team": team} if team else {})}
                    await db.execute(update(subscriptions).where(subscriptions.c.id == existing.id).values(**again))
                return (await self._by_id(existing.id)) or existing, existing.mode
            try:
                async with self.state.begin() as db:
                    inserted = await db.execute(
                        insert(subscriptions).values(
                            channel=channel,
                            host=target.host,
                            workspace=target.workspace,
                            project=target.project,
                            pipeline_id=target.pipeline_id or 0,
                            branch=branch or "",
                            mode=mode.value,
                            created_by=user,
                            created_at=time.time(),
                            team=team,
                        )
                    )
                    new_id = inserted.inserted_primary_key[0]  # type: ignore[index]  # always set after an INSERT
            except IntegrityError:
                continue
            found = await self._by_id(new_id)
            assert found is not None
            return found, None
        raise RuntimeError("subscription could not be saved")

    async def unsubscribe(self, channel: str, target: Target, *, branch: str | None) -> list[Subscription]:
        """Removes the channel's subscriptions to ``target``: the one for ``branch``, or all of them."""
        condition = and_(subscriptions.c.channel == channel, _target_is(subscriptions, target))
        if branch is not None:
            condition = and_(condition, subscriptions.c.branch == branch)
        async with self.state.begin() as db:
            removed = [_subscription(row) for row in await db.execute(select(subscriptions).where(condition))]
            if removed:
                await db.execute(delete(subscriptions).where(subscriptions.c.id.in_([s.id for s in removed])))
        return removed

    async def remove(self, channel: str, subscription_id: int) -> Subscription | None:
        """Removes one subscription by id, only from the channel it belongs to."""
        found = await self._by_id(subscription_id)
        if found is None or found.channel != channel:
            return None
        async with self.state.begin() as db:
            await db.execute(delete(subscriptions).where(subscriptions.c.id == subscription_id))
        return found

    async def for_channel(self, channel: str) -> list[Subscription]:
        query = select(subscriptions).where(subscriptions.c.channel == channel).order_by(subscriptions.c.id)
        async with self.state.begin() as db:
            return [_subscription(row) for row in await db.execute(query)]

    async def matching(self, pipeline: PipelineKey) -> list[Subscription]:
        """Subscriptions to this pipeline or to its whole project, any branch, oldest first."""
        query = (
            select(subscriptions)
            .where(
                _same(subscriptions.c.host, pipeline.host),
                _same(subscriptions.c.workspace, pipeline.workspace),
                _same(subscriptions.c.project, pipeline.project),
                subscriptions.c.pipeline_id.in_([0, pipeline.pipeline_id]),
            )
            .order_by(subscriptions.c.id)
        )
        async with self.state.begin() as db:
            return [_subscription(row) for row in await db.execute(query)]

    async def followed(self) -> list[Followed]:
        """Every pipeline and project followed, once per Slack installation and subscriber: whose
        credential polls it depends on them (bot.tenancy)."""
        columns = (
            subscriptions.c.host,
            subscriptions.c.workspace,
            subscriptions.c.project,
            subscriptions.c.pipeline_id,
            subscriptions.c.team,
            subscriptions.c.created_by,
        )
        async with self.state.begin() as db:
            rows = (await db.execute(select(*columns).distinct().order_by(*columns[:4]))).all()
        return [
            Followed(Target(row.host, row.workspace, row.project, row.pipeline_id or None), row.team, row.created_by)
            for row in rows
        ]

    async def _find(self, channel: str, target: Target, branch: str | None) -> Subscription | None:
        query = select(subscriptions).where(
            subscriptions.c.channel == channel, _target_is(subscriptions, target), subscriptions.c.branch == (branch or "")
        )
        async with self.state.begin() as db:
            row = (await db.execute(query)).first()
        return _subscription(row) if row else None

    async def _by_id(self, subscription_id: int) -> Subscription | None:
        async with self.state.begin() as db:
            row = (await db.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
        return _subscription(row) if row else None

    # -- what was posted where ---------------------------------------------------------------------

    async def announcement(self, channel: str, run_url: str) -> Announcement | None:
        query = select(announced_runs.c.ts, announced_runs.c.final).where(
            announced_runs.c.channel == channel, announced_runs.c.run_url == run_url
        )
        async with self.state.begin() as db:
            row = (await db.execute(query)).first()
        return Announcement(row.ts, bool(row.final)) if row else None

    async def record_announcement(self, channel: str, run_url: str, *, ts: str, final: bool) -> None:
        where = and_(announced_runs.c.channel == channel, announced_runs.c.run_url == run_url)
        async with self.state.begin() as db:
            changed = await db.execute(update(announced_runs).where(where).values(ts=ts, final=int(final)))
            if changed.rowcount == 0:
                await db.execute(
                    insert(announced_runs).values(
                        channel=channel, run_url=run_url, ts=ts, final=int(final), announced_at=time.time()
                    )
                )

    # -- last final status per pipeline and branch -------------------------------------------------

    async def record_final(self, pipeline: PipelineKey, branch: str, *, run_url: str, run_order: int, status: str) -> FinalStatus:
        """Records a finished run and returns the status before it. Idempotent: the same run seen
        again (by webhook and by polling, or after a restart) gets the same answer."""
        where = and_(
            _same(final_statuses.c.host, pipeline.host),
            _same(final_statuses.c.workspace, pipeline.workspace),
            _same(final_statuses.c.project, pipeline.project),
            final_statuses.c.pipeline_id == pipeline.pipeline_id,
            final_statuses.c.branch == branch,
        )
        for _ in range(2):  # a second try only when another replica recorded the first final status meanwhile
            try:
                async with self.state.begin() as db:
                    row = (await db.execute(select(final_statuses).where(where).with_for_update())).first()
                    if row is not None and row.run_url == run_url:
                        return FinalStatus(previous=row.previous_status, latest=True)
                    if row is not None and row.run_order > run_order:
                        return FinalStatus(previous=None, latest=False)
                    previous = row.status if row is not None else None
                    values = dict(run_url=run_url, run_order=run_order, status=status, previous_status=previous)
                    if row is None:
                        await db.execute(
                            insert(final_statuses).values(
                                host=pipeline.host,
                                workspace=pipeline.workspace,
                                project=pipeline.project,
                                pipeline_id=pipeline.pipeline_id,
                                branch=branch,
                                **values,
                            )
                        )
                    else:
                        await db.execute(update(final_statuses).where(where).values(**values))
                    return FinalStatus(previous=previous, latest=True)
            except IntegrityError:
                continue
        raise RuntimeError("final status could not be recorded")


def _subscription(row: Row) -> Subscription:
    return Subscription(
        id=row.id,
        channel=row.channel,
        target=Target(row.host, row.workspace, row.project, row.pipeline_id or None),
        branch=row.branch or None,
        mode=Mode(row.mode),
        created_by=row.created_by,
        created_at=row.created_at,
        team=row.team,
    )
