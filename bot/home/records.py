"""What the Home tab lists, kept in the state store as it happens: followed runs waiting for an
approval (``WaitingRuns``), the runs each person asked about (``RecentRuns``), and who opened the tab
lately (``Viewers``). Every row carries its Slack installation (``team``: a ``Workspace.key``, '' for
the one workspace of a single SLACK_BOT_TOKEN)."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cachetools import LRUCache
from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.actions.operations import APPLY_WAIT, run_status
from bot.buddy.models import Execution
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson
from bot.report import RunReport
from bot.state.batch import GroupCommit
from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import home_recent_runs, home_viewers, home_waiting_runs
from bot.subscriptions.events import RunEvent

log = logging.getLogger(__name__)

RECENT_PER_PERSON = 10  # the runs asked about kept per person; older ones are pruned
VIEWERS_PER_TEAM = 200  # whose tab is drawn again on a change, per installation (the latest openers)
SEEN_KEPT = 10_000  # runs whose waiting state this process last wrote, so an unchanged poll writes nothing
TITLE_CHARS = 200

Changed = Callable[[str], Awaitable[None]]  # told the installation whose waiting runs changed


def team_key(team: str | None) -> str:
    """A row's installation: a ``Workspace.key``, or '' for the one workspace (``team`` NULL elsewhere)."""
    return team or ""


@dataclass(frozen=True)
class WaitingRun:
    team: str
    run_url: str
    host: str
    workspace: str
    project: str
    pipeline_id: int
    execution_id: int
    title: str
    approve_url: str | None
    since: float


def run_title(execution: Execution | None, project: str) -> str:
    """ "Deploy #12 · main": the pipeline's name, the run's number and branch, as Buddy gave them."""
    if execution is None:
        return project[:TITLE_CHARS]
    name = (execution.pipeline.name if execution.pipeline is not None else None) or project
    number = f" #{execution.id}" if execution.id is not None else ""
    branch = execution.branch.name if execution.branch is not None and execution.branch.name else ""
    return f"{name}{number}{f' · {branch}' if branch else ''}"[:TITLE_CHARS]


class WaitingRuns:
    """Followed runs waiting for an approval. ``seen`` is called for every followed run read (by the
    watcher and the subscription router); it writes only when a run's waiting state changed since this
    process last wrote it, and tells ``on_change`` listeners (the Home tab's redraw) when it did."""

    _by_store: weakref.WeakKeyDictionary[StateStore, WaitingRuns] = weakref.WeakKeyDictionary()

    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self.listeners: list[Changed] = []
        self._written: LRUCache[tuple[str, str], bool] = LRUCache(maxsize=SEEN_KEPT)
        self._primed = False

    @classmethod
    def of(cls, state: StateStore) -> WaitingRuns:
        """The one per state store: the watcher, the router and the Home tab share it."""
        found = cls._by_store.get(state)
        if found is None:
            found = cls._by_store[state] = cls(state)
        return found

    async def seen(self, team: str | None, report: RunReport) -> None:
        """A followed run as a poll read it."""
        execution = report.execution
        if execution is None or execution.id is None:
            return
        waiting_action = next((a for a in report.actions if (a.status or "").upper() == APPLY_WAIT), None)
        waiting = (waiting_action is not None or run_status(execution) == APPLY_WAIT) and not execution.is_finished
        approve_url = waiting_action.html_url if waiting_action is not None else None
        ref = report.run_ref
        await self._record([team_key(team)], ref, ref.web_url, execution, waiting, approve_url)

    async def seen_event(self, teams: Iterable[str | None], event: RunEvent) -> None:
        """A subscribed pipeline's run as the router got it, for each installation that follows it."""
        execution = event.execution
        if execution.id is None:
            return
        waiting = run_status(execution) == APPLY_WAIT and not execution.is_finished
        await self._record(sorted({team_key(t) for t in teams}), event.ref, event.run_url, execution, waiting, None)

    async def _record(
        self,
        teams: list[str],
        ref: BuddyRef,
        run_url: str,
        execution: Execution,
        waiting: bool,
        approve_url: str | None,
    ) -> None:
        await self._prime()
        unknown = [team for team in teams if self._written.get((team, run_url)) is not waiting]
        if not waiting:
            # Only a row this process wrote, or found at its start, needs deleting: no write for each of
            # the many runs not waiting. One left by another replica is dropped when a Home tab reads it.
            for team in unknown:
                if self._written.get((team, run_url)) is None:
                    self._written[(team, run_url)] = False
            unknown = [team for team in unknown if self._written.get((team, run_url)) is True]
        if not unknown:
            return
        changed: list[str] = []  # where a row came or went (not merely this process's first look)
        try:
            async with self.state.begin() as db:
                for team in unknown:
                    where = (home_waiting_runs.c.team == team, home_waiting_runs.c.run_url == run_url)
                    if not waiting:
                        if (await db.execute(delete(home_waiting_runs).where(*where))).rowcount:
                            changed.append(team)
                        continue
                    values = dict(
                        host=ref.host,
                        workspace=ref.workspace,
                        project=ref.project,
                        pipeline_id=ref.pipeline_id,
                        execution_id=int(execution.id or 0),
                        title=run_title(execution, ref.project),
                        approve_url=approve_url,
                    )
                    updated = await db.execute(update(home_waiting_runs).where(*where).values(**values))
                    if updated.rowcount == 0:
                        await db.execute(
                            home_waiting_runs.insert().values(team=team, run_url=run_url, since=self.clock(), **values)
                        )
                        changed.append(team)
        except StateUnavailable as exc:
            log.info("the Home tab's waiting runs not updated for %s: %s", run_url, exc)
            return
        for team in unknown:
            self._written[(team, run_url)] = waiting
        for team in changed:
            for listener in self.listeners:
                await listener(team)

    async def _prime(self) -> None:
        """The waiting runs already in the store, known once (at the first run seen)."""
        if self._primed:
            return
        self._primed = True
        try:
            async with self.state.begin() as db:
                rows = await db.execute(select(home_waiting_runs.c.team, home_waiting_runs.c.run_url).limit(SEEN_KEPT))
                for row in rows:
                    self._written[(row.team, row.run_url)] = True
        except StateUnavailable as exc:
            self._primed = False
            log.info("the Home tab's waiting runs not read: %s", exc)

    async def gone(self, team: str, run_url: str) -> None:
        """Found no longer waiting when read for a Home tab."""
        async with self.state.begin() as db:
            await db.execute(
                delete(home_waiting_runs).where(home_waiting_runs.c.team == team, home_waiting_runs.c.run_url == run_url)
            )
        self._written[(team, run_url)] = False

    async def approved(self, team: str, run_url: str, button_value: str) -> None:
        """Approved from the Home tab: the run (named by its link or its waiting action's) waits no more."""
        table = home_waiting_runs
        async with self.state.begin() as db:
            gone = await db.execute(
                delete(table)
                .where(table.c.team == team, or_(table.c.run_url == run_url, table.c.approve_url == button_value))
                .returning(table.c.run_url)
            )
            for url in gone.scalars():
                self._written[(team, url)] = False

    async def of_team(self, team: str, *, limit: int) -> tuple[list[WaitingRun], int]:
        """The newest ``limit`` waiting runs of an installation, and how many it has in all."""
        async with self.state.begin() as db:
            total = (
                await db.execute(select(func.count()).select_from(home_waiting_runs).where(home_waiting_runs.c.team == team))
            ).scalar_one()
            rows = await db.execute(
                select(home_waiting_runs)
                .where(home_waiting_runs.c.team == team)
                .order_by(home_waiting_runs.c.since.desc(), home_waiting_runs.c.run_url)
                .limit(limit)
            )
            return [
                WaitingRun(
                    r.team,
                    r.run_url,
                    r.host,
                    r.workspace,
                    r.project,
                    r.pipeline_id,
                    r.execution_id,
                    r.title,
                    r.approve_url,
                    r.since,
                )
                for r in rows
            ], int(total)


@dataclass(frozen=True)
class RecentRun:
    run_url: str
    title: str
    status: str
    at: float
    how: str  # ASKED or the audit trail's action (run, retry)


ASKED = "asked"


class RecentRuns:
    """The runs a person asked about, the last RECENT_PER_PERSON kept. One per process: the runs asked
    about together (a burst of commands) are written in one transaction (bot.state.batch)."""

    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self._writes: GroupCommit[dict, None] = GroupCommit(self._write)

    async def asked(self, team: str | None, person: SlackPerson, report: RunReport) -> None:
        """``person`` asked about this run (``/buddy <link>``, a mention); best effort."""
        execution = report.execution
        status = ((execution.status if execution is not None else None) or "UNKNOWN").upper()[:40]
        row = dict(
            team=team_key(team),
            slack_user=person.user,
            run_url=report.run_ref.web_url,
            title=run_title(execution, report.ref.project),
            status=status,
            at=self.clock(),
        )
        try:
            await self._writes.submit(row)
        except StateUnavailable as exc:
            log.info("a run asked about is not listed on the Home tab: %s", exc)

    async def _write(self, rows: list[dict]) -> list[None]:
        """Two statements for the whole batch, whatever its size: the rows (one upsert, executemany),
        then each person's oldest beyond RECENT_PER_PERSON."""
        table = home_recent_runs
        upsert = (sqlite_insert if self.state.is_sqlite else postgresql_insert)(table)
        upsert = upsert.on_conflict_do_update(
            index_elements=["team", "slack_user", "run_url"],
            set_={name: upsert.excluded[name] for name in ("title", "status", "at")},
        )
        people = list({(row["team"], row["slack_user"]) for row in rows})
        person = (table.c.team, table.c.slack_user)
        newest_first = func.row_number().over(partition_by=person, order_by=table.c.at.desc()).label("newest_first")
        ranked = select(*person, table.c.run_url, newest_first).where(tuple_(*person).in_(people)).subquery()
        beyond = select(ranked.c.team, ranked.c.slack_user, ranked.c.run_url).where(ranked.c.newest_first > RECENT_PER_PERSON)
        async with self.state.begin() as db:
            await db.execute(upsert, rows)
            await db.execute(delete(table).where(tuple_(*person, table.c.run_url).in_(beyond)))
        return [None] * len(rows)

    async def of(self, team: str, user: str) -> list[RecentRun]:
        async with self.state.begin() as db:
            rows = await db.execute(
                select(home_recent_runs)
                .where(home_recent_runs.c.team == team, home_recent_runs.c.slack_user == user)
                .order_by(home_recent_runs.c.at.desc())
                .limit(RECENT_PER_PERSON)
            )
            return [RecentRun(r.run_url, r.title, r.status, r.at, ASKED) for r in rows]


class Viewers:
    """Who opened the Home tab, the latest VIEWERS_PER_TEAM per installation."""

    def __init__(self, state: StateStore, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    async def opened(self, team: str, person: SlackPerson) -> None:
        key = dict(team=team, slack_user=person.user)
        values = dict(person_team=person.team, opened_at=self.clock())
        insert = sqlite_insert if self.state.is_sqlite else postgresql_insert
        statement = insert(home_viewers).values(**key, **values).on_conflict_do_update(index_elements=list(key), set_=values)
        async with self.state.begin() as db:
            await db.execute(statement)
            kept = (
                select(home_viewers.c.slack_user)
                .where(home_viewers.c.team == team)
                .order_by(home_viewers.c.opened_at.desc())
                .limit(VIEWERS_PER_TEAM)
            )
            await db.execute(
                delete(home_viewers).where(home_viewers.c.team == team, home_viewers.c.slack_user.not_in(kept.scalar_subquery()))
            )

    async def of(self, team: str) -> list[SlackPerson]:
        async with self.state.begin() as db:
            rows = await db.execute(
                select(home_viewers.c.person_team, home_viewers.c.slack_user)
                .where(home_viewers.c.team == team)
                .order_by(home_viewers.c.opened_at.desc())
                .limit(VIEWERS_PER_TEAM)
            )
            return [SlackPerson(r.person_team, r.slack_user) for r in rows]


async def forget_team(state: StateStore, team: str) -> int:
    """Every Home tab row of an installation that left; how many."""
    removed = 0
    async with state.begin() as db:
        for table in (home_waiting_runs, home_recent_runs, home_viewers):
            removed += (await db.execute(delete(table).where(table.c.team == team))).rowcount
    return removed
