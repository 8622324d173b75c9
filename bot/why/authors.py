"""Who broke it: the commit's author, how messages name them, when they are told, who claimed it.

The author comes from the run's ``to_revision``: ``author.email``, else ``committer.email`` (Buddy's
webhook deliveries carry both; the author has a ``title`` rather than a ``name`` there). Mapping the
email to a Slack user is the Slack side's job; here the person is only named.

A failure announcement mentions the author; every other message names them without a mention, so
nobody is pinged on every run. With NOTIFY_AUTHORS the first failure of a streak (the rule of
``changes`` subscriptions: passing or never seen → failing) sends the author one DM per run, unless
someone already said "I'm on it" for that run. Slack-free: the stores below keep who claimed which
failure, which run's DM went out (and from which unit of work), and where each failure was announced.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bot.buddy.models import Execution, Person
from bot.state.store import StateStore
from bot.state.tables import author_dms, failure_claims, failure_threads

SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class Author:
    """A commit's author as messages name them: ``slack_user`` is set once the email maps to one."""

    name: str | None
    email: str | None
    short_revision: str | None
    slack_user: str | None = None

    def in_slack(self, user_id: str, name: str | None) -> Author:
        """The same author, now known in Slack (their Slack name is what people there know them by)."""
        return replace(self, slack_user=user_id if SLACK_USER_ID.fullmatch(user_id) else None, name=name or self.name)


def commit_author(execution: Execution | None) -> Author | None:
    """The author of the run's commit, or None when Buddy says nothing about them."""
    revision = execution.to_revision if execution is not None else None
    if revision is None:
        return None
    people = [person for person in (revision.author, revision.committer) if person is not None]
    email = next((e for e in (_email(person) for person in people) if e), None)
    name = next((n for n in (_name(person) for person in people) if n), None)
    if email is None and name is None:
        return None
    return Author(name=name, email=email, short_revision=revision.short)


def tells_author(*, notify_authors: bool, first_failure: bool, quiet: bool) -> bool:
    """The streak rule: only the failure that turns a pipeline+branch red, and not a flaky one kept quiet."""
    return notify_authors and first_failure and not quiet


def _email(person: Person) -> str | None:
    email = (person.email or "").strip()
    return email if "@" in email and " " not in email else None


def _name(person: Person) -> str | None:
    return (person.name or "").strip() or (person.title or "").strip() or None


class AuthorStore:
    """Claims, the one DM per failed run, and where failures were announced (shared by replicas)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def claim(self, run_url: str, user_id: str) -> str:
        """Records ``user_id`` as looking into the run, unless someone was first: returns who is."""
        try:
            async with self.state.begin() as db:
                await db.execute(insert(failure_claims).values(run_url=run_url, user_id=user_id, claimed_at=time.time()))
        except IntegrityError:
            pass  # another click (or replica) was first
        return await self.claimer(run_url) or user_id

    async def claimer(self, run_url: str) -> str | None:
        async with self.state.begin() as db:
            found = await db.execute(select(failure_claims.c.user_id).where(failure_claims.c.run_url == run_url))
            return found.scalar()

    async def take_dm(self, run_url: str, unit_id: str, user_id: str) -> bool:
        """Whether this unit of work sends the run's DM: the first to ask does, and asks again after a
        take-over (its recorded effect then keeps the DM from going twice)."""
        try:
            async with self.state.begin() as db:
                await db.execute(
                    insert(author_dms).values(run_url=run_url, unit_id=unit_id, user_id=user_id, sent_at=time.time())
                )
            return True
        except IntegrityError:
            async with self.state.begin() as db:
                owner = (await db.execute(select(author_dms.c.unit_id).where(author_dms.c.run_url == run_url))).scalar()
            return owner == unit_id

    async def record_thread(self, run_url: str, channel: str, thread_ts: str) -> None:
        """Where the failed run's details went in ``channel``: a claim made elsewhere is noted there."""
        try:
            async with self.state.begin() as db:
                await db.execute(
                    insert(failure_threads).values(
                        run_url=run_url, channel=channel, thread_ts=thread_ts, announced_at=time.time()
                    )
                )
        except IntegrityError:
            pass  # recorded before a take-over

    async def threads(self, run_url: str) -> list[tuple[str, str]]:
        """(channel, thread ts) of every announcement of the failed run, oldest first."""
        query = (
            select(failure_threads.c.channel, failure_threads.c.thread_ts)
            .where(failure_threads.c.run_url == run_url)
            .order_by(failure_threads.c.announced_at)
        )
        async with self.state.begin() as db:
            return [(row.channel, row.thread_ts) for row in await db.execute(query)]
