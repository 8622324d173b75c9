"""What one person's Home tab shows, gathered from the state store (nothing is scanned in Buddy):
their linked accounts, the followed runs waiting for an approval that their linked token can read,
their recent runs, and the subscriptions (and failing pipelines) of the channels they are in. Which
channels they are in is Slack's answer, given by the caller."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from cachetools import TTLCache
from sqlalchemy import func, select

from bot.actions.audit import DONE
from bot.actions.operations import APPLY_WAIT, run_status
from bot.answers import Responder
from bot.buddy import errors
from bot.buddy.refs import BuddyRef
from bot.home.records import RecentRun, RecentRuns, WaitingRun, WaitingRuns
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import Identity, NotLinked
from bot.state.store import StateStore
from bot.state.tables import action_audit, final_statuses, subscriptions
from bot.subscriptions.store import Subscription, _subscription

log = logging.getLogger(__name__)

WAITING_SHOWN = 10  # then "and N more"
WAITING_READ_AT_MOST = 25  # runs read with the person's token per draw
READ_KEPT_S = 30.0  # how long a run read with a credential is believed (per credential and run)
RECENT_SHOWN = 10
SUBSCRIPTIONS_READ_AT_MOST = 500
STARTED = ("run", "retry")  # audit actions that start a run of the person's


@dataclass(frozen=True)
class FailingPipeline:
    host: str
    workspace: str
    project: str
    pipeline_id: int
    branch: str
    run_url: str


@dataclass
class HomeData:
    person: SlackPerson
    linked_hosts: list[str]
    default_host: str
    waiting: list[WaitingRun] = field(default_factory=list)
    waiting_more: int = 0  # readable beyond those shown
    waiting_unread: int = 0  # more waiting runs than were read with the person's token this time
    recent: list[RecentRun] = field(default_factory=list)
    failing: list[FailingPipeline] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    channels_known: bool = True  # False: Slack did not say which channels the person is in
    can_configure: bool = False


class HomeTab:
    def __init__(self, state: StateStore, identity: Identity) -> None:
        self.state = state
        self.identity = identity
        self.waiting = WaitingRuns.of(state)
        self.recent = RecentRuns(state)
        # (credential, run) -> still waiting and readable with it; a miss is one GET of the run.
        self._read: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=READ_KEPT_S)

    async def gather(
        self,
        team: str,
        person: SlackPerson,
        responder: Responder,
        *,
        channels: Collection[str] | None,
        can_configure: bool = False,
    ) -> HomeData:
        """``team``: the installation's key ('' for the one workspace); ``responder``: its settings;
        ``channels``: those the person is in (None when Slack did not say)."""
        data = HomeData(
            person,
            await self.identity.accounts.hosts(person),
            responder.settings.buddy_default_host.lower(),
            can_configure=can_configure,
            channels_known=channels is not None,
        )
        await self._waiting(team, data, responder)
        data.recent = await self._recent(team, person)
        if channels:
            data.subscriptions = await self._subscriptions(team, channels)
            data.failing = await self._failing(data.subscriptions)
        return data

    async def _waiting(self, team: str, data: HomeData, responder: Responder) -> None:
        rows, total = await self.waiting.of_team(team, limit=WAITING_READ_AT_MOST)
        readable: list[WaitingRun] = []
        seen: set[tuple[str, str, str, int, int]] = set()
        for row in rows:
            same_run = (row.host.lower(), row.workspace.lower(), row.project.lower(), row.pipeline_id, row.execution_id)
            if row.host.lower() not in data.linked_hosts or same_run in seen:
                continue
            seen.add(same_run)
            if await self._readable(team, data.person, row, responder):
                readable.append(row)
        data.waiting = readable[:WAITING_SHOWN]
        data.waiting_more = max(0, len(readable) - WAITING_SHOWN)
        data.waiting_unread = max(0, total - len(rows))

    async def _readable(self, team: str, person: SlackPerson, row: WaitingRun, responder: Responder) -> bool:
        """Whether the person's linked token reads the run and it still waits (one GET, kept a while)."""
        ref = BuddyRef(row.host, row.workspace, row.project, row.pipeline_id, str(row.execution_id))
        if not responder.lookup.workspace_allowed(ref):
            return False
        try:
            token = (await self.identity.usable(person, row.host)).token
        except NotLinked:
            return False
        except errors.BuddyError as exc:
            log.info("the Home tab could not refresh a Buddy sign-in: %s", type(exc).__name__)
            return False
        key = (hashlib.sha256(token.encode()).hexdigest(), row.run_url)
        known = self._read.get(key)
        if known is not None:
            return known
        client = responder.lookup.as_person(token).client
        try:
            execution = await client.get_execution(row.host, row.workspace, row.project, row.pipeline_id, row.execution_id)
        except (errors.NotFound, errors.Unauthorized, errors.Forbidden):
            self._read[key] = False
            return False
        except errors.BuddyError as exc:
            log.info("the Home tab could not read %s: %s", row.run_url, type(exc).__name__)
            return False
        still = run_status(execution) == APPLY_WAIT and not execution.is_finished
        if not still:  # it moved on while nobody followed it: not waiting for anyone any more
            await self.waiting.gone(team, row.run_url)
        self._read[key] = still
        return still

    def forget_reads(self) -> None:
        """A run was acted on: the next draws read the waiting runs again."""
        self._read.clear()

    async def subscription(self, team: str, subscription_id: int) -> Subscription | None:
        """One subscription of the installation (any of them with the one workspace's token)."""
        query = select(subscriptions).where(subscriptions.c.id == subscription_id)
        if team:
            query = query.where(subscriptions.c.team == team)
        async with self.state.begin() as db:
            row = (await db.execute(query)).first()
        return _subscription(row) if row is not None else None

    async def _recent(self, team: str, person: SlackPerson) -> list[RecentRun]:
        asked = await self.recent.of(team, person.user)
        query = (
            select(action_audit)
            .where(
                action_audit.c.team == person.team,
                action_audit.c.slack_user == person.user,
                action_audit.c.action.in_(STARTED),
                action_audit.c.result == DONE,
            )
            .order_by(action_audit.c.at.desc())
            .limit(RECENT_SHOWN)
        )
        async with self.state.begin() as db:
            started = [
                RecentRun(r.run_url, f"{r.project} · pipeline {r.pipeline_id}", "", r.at, r.action)
                for r in await db.execute(query)
            ]
        newest: dict[str, RecentRun] = {}
        for run in sorted([*asked, *started], key=lambda run: run.at, reverse=True):
            newest.setdefault(run.run_url, run)
        return list(newest.values())[:RECENT_SHOWN]

    async def _subscriptions(self, team: str, channels: Collection[str]) -> list[Subscription]:
        query = select(subscriptions).where(subscriptions.c.channel.in_(list(channels)))
        if team:  # the one workspace of a single token: every row is its own
            query = query.where(subscriptions.c.team == team)
        async with self.state.begin() as db:
            rows = await db.execute(query.order_by(subscriptions.c.channel, subscriptions.c.id).limit(SUBSCRIPTIONS_READ_AT_MOST))
            return [_subscription(row) for row in rows]

    async def _failing(self, followed: list[Subscription]) -> list[FailingPipeline]:
        """The pipeline+branches these subscriptions follow whose last final run failed."""
        projects = {(s.target.host.lower(), s.target.workspace.lower(), s.target.project.lower()) for s in followed}
        if not projects:
            return []
        query = select(final_statuses).where(
            final_statuses.c.status == "FAILED",
            func.lower(final_statuses.c.project).in_(sorted({p for _, _, p in projects})),
        )
        async with self.state.begin() as db:
            rows = list(await db.execute(query))
        failing = []
        for row in rows:
            if any(_follows(s, row) for s in followed):
                failing.append(FailingPipeline(row.host, row.workspace, row.project, row.pipeline_id, row.branch, row.run_url))
        return sorted(failing, key=lambda f: (f.project.lower(), f.pipeline_id, f.branch))


def _follows(subscription: Subscription, row) -> bool:
    target = subscription.target
    return (
        (target.host.lower(), target.workspace.lower(), target.project.lower())
        == (row.host.lower(), row.workspace.lower(), row.project.lower())
        and target.pipeline_id in (None, row.pipeline_id)
        and subscription.branch in (None, row.branch)
    )
