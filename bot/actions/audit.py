"""The audit trail: every action taken from Slack, one row per action (its unit of work)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson
from bot.state.store import StateStore
from bot.state.tables import action_audit

DONE, REFUSED, FAILED = "done", "refused", "failed"
RECENT = 20


@dataclass(frozen=True)
class AuditRow:
    at: float
    slack_user: str
    buddy_user: str
    action: str
    run_url: str
    result: str
    detail: str
    host: str
    workspace: str
    project: str
    pipeline_id: int


class AuditTrail:
    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    async def record(
        self,
        *,
        unit_id: str,
        person: SlackPerson,
        buddy_user: str,
        action: str,
        ref: BuddyRef,
        run_url: str,
        result: str,
        detail: str = "",
        execution_id: int | None = None,
    ) -> None:
        """One row per unit: a unit taken over after a crash does not write its row twice."""
        insert = sqlite_insert if self.state.is_sqlite else postgresql_insert
        statement = (
            insert(action_audit)
            .values(
                unit_id=unit_id,
                at=self.clock(),
                team=person.team,
                slack_user=person.user,
                buddy_user=buddy_user,
                action=action,
                host=ref.host,
                workspace=ref.workspace,
                project=ref.project,
                pipeline_id=ref.pipeline_id,
                execution_id=execution_id,
                run_url=run_url,
                result=result,
                detail=detail[:500],
            )
            .on_conflict_do_nothing(index_elements=["unit_id"])
        )
        async with self.state.begin() as db:
            await db.execute(statement)

    async def recent(
        self,
        team: str,
        *,
        pipeline: tuple[str, str, str, int] | None = None,
        workspaces: Collection[str] = (),
        limit: int = RECENT,
    ) -> list[AuditRow]:
        """The newest actions in a Slack workspace, of one pipeline (host, workspace, project, id) if
        given, in these Buddy ``workspaces`` only if any are given."""
        query = select(action_audit).where(action_audit.c.team == team)
        if workspaces:
            query = query.where(func.lower(action_audit.c.workspace).in_([w.lower() for w in workspaces]))
        if pipeline is not None:
            host, workspace, project, pipeline_id = pipeline
            query = query.where(
                action_audit.c.host == host,
                action_audit.c.workspace == workspace,
                action_audit.c.project == project,
                action_audit.c.pipeline_id == pipeline_id,
            )
        async with self.state.begin() as db:
            rows = await db.execute(query.order_by(action_audit.c.at.desc(), action_audit.c.id.desc()).limit(limit))
            return [
                AuditRow(
                    r.at,
                    r.slack_user,
                    r.buddy_user,
                    r.action,
                    r.run_url,
                    r.result,
                    r.detail,
                    r.host,
                    r.workspace,
                    r.project,
                    r.pipeline_id,
                )
                for r in rows
            ]
