"""The map from web (hex) execution ids to the API's integer ids, shared by replicas: a web id one
replica scanned the executions list for is not scanned for again by another (nor after a restart).
The mapping never changes, so a stale read is impossible."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import execution_ids

WebIdKey = tuple[str, str, str, int, str]  # host, workspace, project, pipeline id, web id


class ExecutionIds:
    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def get(self, key: WebIdKey) -> int | None:
        """The API id for a web id, when some replica has seen it; None also when the store is down."""
        host, workspace, project, pipeline_id, web_id = key
        query = select(execution_ids.c.api_id).where(
            execution_ids.c.host == host.lower(),
            execution_ids.c.workspace == workspace.lower(),
            execution_ids.c.project == project.lower(),
            execution_ids.c.pipeline_id == pipeline_id,
            execution_ids.c.web_id == web_id,
        )
        try:
            async with self.state.begin() as db:
                return (await db.execute(query)).scalar()
        except StateUnavailable:
            return None  # the scan still finds it

    async def remember(self, pairs: Iterable[tuple[WebIdKey, int]]) -> None:
        """Every id seen on a scanned page, in one statement; ones already known are left as they are."""
        rows = [
            dict(
                host=host.lower(),
                workspace=workspace.lower(),
                project=project.lower(),
                pipeline_id=pipeline_id,
                web_id=web_id,
                api_id=api_id,
            )
            for (host, workspace, project, pipeline_id, web_id), api_id in pairs
        ]
        if not rows:
            return
        insert = sqlite_insert if self.state.is_sqlite else postgresql_insert
        statement = insert(execution_ids).on_conflict_do_nothing()
        with contextlib.suppress(StateUnavailable):
            async with self.state.begin() as db:
                await db.execute(statement, rows)
