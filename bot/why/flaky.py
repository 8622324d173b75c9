"""Flaky actions: the outcomes the bot has seen, per pipeline, action and revision, and which failures
come from an action that fails, then passes on retry.

An action (by its action id) that failed and later passed at the same revision, in the same execution
(a retried run) or a later one, was flaky that time. The history starts when the bot first sees a
pipeline (no backfill) and is fed only from what it reads anyway: webhook deliveries, polls of the
executions list, and the lookup behind a failure's thread details. A run whose actions are not listed
(the executions list leaves them out) counts, when it passed, as a pass of each of its actions.

Slack-free. With FLAKY_QUIET, a flaky failure goes into the thread of the bot's last top-level post
for the pipeline in the channel (``LastPosts``) instead of a new post.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.buddy.models import Execution
from bot.state.store import StateStore
from bot.state.tables import action_outcomes, pipeline_posts
from bot.subscriptions.store import PipelineKey

PASSED, FAILED = "SUCCESSFUL", "FAILED"
EVERY_ACTION = 0  # the action id of a passed run whose actions are not listed
KEPT_RUNS = 2000  # runs of a pipeline kept in the history: twice the largest FLAKY_WINDOW


@dataclass(frozen=True)
class Outcome:
    action_id: int
    status: str  # PASSED or FAILED


@dataclass(frozen=True)
class FlakyAction:
    """A failed action that failed then passed on retry ``times`` times within its last ``runs`` runs."""

    action_id: int
    name: str | None
    times: int
    runs: int

    @property
    def note(self) -> str:
        times = "once" if self.times == 1 else f"{self.times} times"
        return f"flaky: failed, then passed on retry, {times} in the last {self.runs} runs"


def outcomes_of(execution: Execution) -> list[Outcome]:
    """The final outcome of each action of the run, by action id; an action listed twice with both
    outcomes failed this time. A passed run without its actions passes for all of them."""
    seen: dict[int, str] = {}
    for action_execution in execution.action_executions:
        action_id = action_execution.action.id if action_execution.action is not None else None
        status = (action_execution.status or "").upper()
        if action_id is None or action_id == EVERY_ACTION or status not in (PASSED, FAILED):
            continue
        if seen.get(action_id) != FAILED:
            seen[action_id] = status
    if not execution.action_executions and execution.is_finished and (execution.status or "").upper() == PASSED:
        seen[EVERY_ACTION] = PASSED
    return [Outcome(action_id, status) for action_id, status in seen.items()]


def failed_actions(execution: Execution) -> dict[int, str | None]:
    """The run's failed actions: action id → name."""
    failed: dict[int, str | None] = {}
    for action_execution in execution.action_executions:
        action = action_execution.action
        if action is not None and action.id and (action_execution.status or "").upper() == FAILED:
            failed.setdefault(action.id, action.name)
    return failed


def _run_of(execution: Execution) -> tuple[str, int] | None:
    """(revision, run order) of a run the history can hold: one with a commit and a number."""
    revision = execution.to_revision.revision if execution.to_revision is not None else None
    if not revision or execution.id is None:
        return None
    return revision, execution.id


def _pipeline_is(table, pipeline: PipelineKey):
    return and_(
        table.c.host == pipeline.host.lower(),
        table.c.workspace == pipeline.workspace.lower(),
        table.c.project == pipeline.project.lower(),
        table.c.pipeline_id == pipeline.pipeline_id,
    )


class OutcomeHistory:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def record(self, pipeline: PipelineKey, execution: Execution) -> None:
        """Remembers what the run's actions did; an outcome seen before (webhook and poll, a replica)
        keeps its first sighting, which orders a retry's pass after the failure."""
        run = _run_of(execution)
        outcomes = outcomes_of(execution)
        if run is None or not outcomes:
            return
        revision, run_order = run
        host, workspace, project = pipeline.host.lower(), pipeline.workspace.lower(), pipeline.project.lower()
        rows = [
            dict(
                host=host,
                workspace=workspace,
                project=project,
                pipeline_id=pipeline.pipeline_id,
                action_id=outcome.action_id,
                revision=revision,
                run_order=run_order,
                status=outcome.status,
                seen_at=time.time(),
            )
            for outcome in outcomes
        ]
        dialect = sqlite if self.state.is_sqlite else postgresql
        async with self.state.begin() as db:
            await db.execute(dialect.insert(action_outcomes).on_conflict_do_nothing(), rows)
            await db.execute(
                delete(action_outcomes).where(
                    _pipeline_is(action_outcomes, pipeline), action_outcomes.c.run_order <= run_order - KEPT_RUNS
                )
            )

    async def flaky(self, pipeline: PipelineKey, execution: Execution, *, window: int) -> list[FlakyAction]:
        """The run's failed actions that were flaky within their last ``window`` runs (up to this one)."""
        run = _run_of(execution)
        if run is None:
            return []
        found = []
        for action_id, name in failed_actions(execution).items():
            times, runs = await self._flaky_times(pipeline, action_id, run[1], window)
            if times:
                found.append(FlakyAction(action_id, name, times, runs))
        return found

    async def _flaky_times(self, pipeline: PipelineKey, action_id: int, run_order: int, window: int) -> tuple[int, int]:
        """How often the action failed, then passed at the same revision, in its last ``window`` runs."""
        columns = (action_outcomes.c.id, action_outcomes.c.action_id, action_outcomes.c.revision, action_outcomes.c.run_order)
        mine = and_(
            _pipeline_is(action_outcomes, pipeline),
            action_outcomes.c.action_id.in_([action_id, EVERY_ACTION]),
            action_outcomes.c.run_order <= run_order,
        )
        async with self.state.begin() as db:
            orders = select(action_outcomes.c.run_order).where(mine).distinct().order_by(action_outcomes.c.run_order.desc())
            runs = list((await db.execute(orders.limit(window))).scalars())
            if not runs:
                return 0, 0
            failures = (
                await db.execute(
                    select(*columns).where(
                        mine,
                        action_outcomes.c.action_id == action_id,
                        action_outcomes.c.status == FAILED,
                        action_outcomes.c.run_order >= runs[-1],
                    )
                )
            ).all()
            revisions = {failure.revision for failure in failures}
            passes = (
                await db.execute(
                    select(*columns).where(mine, action_outcomes.c.status == PASSED, action_outcomes.c.revision.in_(revisions))
                )
            ).all()
        return sum(1 for failure in failures if _passed_after(failure, passes)), len(runs)


def _passed_after(failure, passes: Iterable) -> bool:
    """A pass at the failure's revision, in a later run, or later in the same run (a retry)."""
    return any(
        p.revision == failure.revision
        and (p.run_order > failure.run_order or (p.run_order == failure.run_order and p.id > failure.id))
        for p in passes
    )


class LastPosts:
    """The bot's last top-level post per pipeline and channel."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def record(self, channel: str, pipeline: PipelineKey, ts: str) -> None:
        where = and_(pipeline_posts.c.channel == channel, _pipeline_is(pipeline_posts, pipeline))
        try:
            async with self.state.begin() as db:
                known = (await db.execute(select(pipeline_posts.c.ts).where(where))).scalar()
                if known is None:
                    await db.execute(
                        insert(pipeline_posts).values(
                            channel=channel,
                            host=pipeline.host.lower(),
                            workspace=pipeline.workspace.lower(),
                            project=pipeline.project.lower(),
                            pipeline_id=pipeline.pipeline_id,
                            ts=ts,
                            posted_at=time.time(),
                        )
                    )
                elif float(known) < float(ts):  # a take-over recording an older post must not move the thread back
                    await db.execute(update(pipeline_posts).where(where).values(ts=ts, posted_at=time.time()))
        except IntegrityError:
            pass  # another replica's post in this channel at the same moment: as recent as this one

    async def last(self, channel: str, pipeline: PipelineKey) -> str | None:
        query = select(pipeline_posts.c.ts).where(pipeline_posts.c.channel == channel, _pipeline_is(pipeline_posts, pipeline))
        async with self.state.begin() as db:
            return (await db.execute(query)).scalar()
