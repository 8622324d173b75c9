"""Starting a pipeline run for a Slack person: whose token, the pipeline's branch, the run's body, and
the POST, done once even when its unit of work is taken over after a crash.

Every run is started with the asker's own linked Buddy token, so Buddy's permissions decide; people
listed in ACT_WITH_BOT_TOKEN_FOR run with the bot's token instead. Either way the run's comment names
the Slack person ("Run from Slack by @ana") and carries the unit of work's id ("[slack:1a2b3c4d5e6f]"):
a unit taken over after a crash looks for that mark on the pipeline's first page of runs before it
POSTs again, since a POST whose answer was lost may have started the run. No Slack code here.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot import secrets_seen
from bot.actions.audit import FAILED, REFUSED, AuditTrail
from bot.actions.outcome import BOT_TOKEN
from bot.actions.run_request import RunRequest
from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.models import Execution, Pipeline
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.explain import explain
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import Identity, LinkExpired
from bot.identity.personal import lacks_acting_scope
from bot.state.store import StateStore, StateUnavailable
from bot.state.tables import action_locks
from bot.work.queue import Result, Unit, WorkQueue

log = logging.getLogger(__name__)

POST_EFFECT = "run:post"
MARK_LENGTH = 12
NAME_LIMIT = 80
CONFIRMATION_KEPT_S = 24 * 3600  # as long as a done unit is kept: a later click of the same button is refused
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class RunRefused(Exception):
    """The run was not started; ``message`` tells the person what happened and what to do."""

    def __init__(self, message: str, *, result: str = REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


@dataclass(frozen=True)
class Acting:
    """Who the run is started as in Buddy: a person's linked account, or the bot's token (None)."""

    person: SlackPerson
    host: str
    token: str | None
    buddy_user: str
    scopes: tuple[str, ...] = ()

    @property
    def with_bot_token(self) -> bool:
        return self.token is None


@dataclass(frozen=True)
class PlannedRun:
    """A request with what Buddy said about its pipeline: its name, and the branch the run takes."""

    request: RunRequest
    pipeline_name: str
    branch: str | None  # None: the pipeline names no single branch, and the person named none

    @property
    def revision(self) -> str:
        return self.request.revision or "HEAD"


@dataclass(frozen=True)
class StartedRun:
    execution_id: int | None  # None: Buddy's answer carried no id (the pipeline's latest run is answered)
    html_url: str | None

    @property
    def as_result(self) -> Result:
        return {"execution_id": self.execution_id, "html_url": self.html_url}


def mark(unit_id: str) -> str:
    """What a run's comment carries to be found again by its unit of work."""
    return f"[slack:{unit_id[:MARK_LENGTH]}]"


def clean_name(name: str) -> str:
    """A Slack person's name as Buddy text: one line, printable, short."""
    flat = " ".join(_UNPRINTABLE.sub("", name).split()).lstrip("@")
    return flat[:NAME_LIMIT] or "a Slack user"


def run_comment(asked_by: str, comment: str | None, unit_id: str) -> str:
    """The comment a run carries: "Run from Slack by @ana: <their comment> [slack:…]"."""
    said = " ".join((comment or "").split())
    return f"Run from Slack by @{clean_name(asked_by)}{': ' + said if said else ''} {mark(unit_id)}"


def run_body(planned: PlannedRun, comment: str) -> dict[str, Any]:
    """``POST …/executions``: the revision (HEAD unless given), the branch, the variables, the comment."""
    body: dict[str, Any] = {"to_revision": {"revision": planned.revision}, "comment": comment}
    if planned.branch:
        body["branch"] = {"name": planned.branch}
    if planned.request.variables:
        body["variables"] = [{"key": key, "value": value} for key, value in planned.request.variables]
    return body


def pipeline_branch(pipeline: Pipeline) -> str | None:
    """The one branch a pipeline runs on, from ``ref_name`` (older installations) or ``refs``; None
    for a wildcard, a tag or several branches, where the person must say which."""
    if pipeline.ref_name and (pipeline.ref_type or "BRANCH").upper() == "BRANCH" and "*" not in pipeline.ref_name:
        return pipeline.ref_name.removeprefix("refs/heads/")
    branches = [ref.removeprefix("refs/heads/") for ref in pipeline.refs if ref.startswith("refs/heads/")]
    if len(branches) == 1 and len(pipeline.refs) == 1 and "*" not in branches[0]:
        return branches[0]
    return None


def remember_secrets(request: RunRequest, secret_key_regex: re.Pattern[str]) -> None:
    """The values of variables named like secrets, kept out of every log line and message from now on
    (the confirmation's button carries them back to Slack, and slack_sdk logs what it sends)."""
    secrets_seen.SEEN.remember([value for key, value in request.variables if secret_key_regex.search(key.upper())])


def needs_confirmation(pipeline_name: str, patterns: tuple[str, ...]) -> bool:
    name = pipeline_name.lower()
    return any(pattern.strip().lower() in name for pattern in patterns if pattern.strip())


class Runner:
    def __init__(
        self,
        client: BuddyClient,
        settings: Settings,
        identity: Identity,
        work: WorkQueue,
        state: StateStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        self.identity = identity
        self.work = work
        self.state = state
        self.audit = AuditTrail(state)
        self.clock = clock

    async def acting(self, person: SlackPerson, host: str, *, with_bot_token: bool) -> Acting:
        """Whose token starts the run; NotLinked (or LinkExpired) when the person has none usable."""
        if with_bot_token:
            return Acting(person, host, None, BOT_TOKEN)
        account = await self.identity.usable(person, host)
        return Acting(person, host, account.token, account.buddy_user_name, account.scopes)

    async def plan(self, request: RunRequest, acting: Acting) -> tuple[PlannedRun, Acting]:
        """Reads the pipeline as the one who acts: its name, and the branch when none was given."""
        ref = request.pipeline
        try:
            pipeline, acting = await self._as(
                acting, lambda client: client.get_pipeline(ref.host, ref.workspace, ref.project, ref.pipeline_id)
            )
        except errors.NotFound as exc:
            raise RunRefused(
                f"Buddy has no pipeline {ref.pipeline_id} in {ref.workspace}/{ref.project}, or {_you(acting)} may not see it"
                f"{_said(exc)}. Check the link."
            ) from None
        except errors.Forbidden as exc:
            raise RunRefused(
                f"Buddy does not let {_you(acting)} read this pipeline{_said(exc)}. Ask a workspace admin for access to it."
            ) from None
        except errors.BuddyError as exc:
            raise RunRefused(explain(exc, ref), result=FAILED) from None
        name = pipeline.name or request.label
        branch = request.branch or pipeline_branch(pipeline)
        refs = pipeline.refs or [pipeline.ref_name or ""]
        if branch is None and (len(refs) > 1 or any("*" in ref for ref in refs)):
            shown = ", ".join(ref.removeprefix("refs/heads/") for ref in refs)[:300]
            raise RunRefused(f"{name} runs on more than one branch ({shown}): say which, with branch=<name>.")
        return PlannedRun(request, name, branch), acting

    def needs_confirmation(self, planned: PlannedRun) -> bool:
        return needs_confirmation(planned.pipeline_name, self.settings.run_confirm_patterns)

    async def start(self, planned: PlannedRun, acting: Acting, *, unit: Unit, asked_by: str) -> StartedRun:
        """POSTs the run once for ``unit``; a take-over finds a run already started by its mark."""
        if lacks_acting_scope(acting.scopes):
            raise RunRefused(
                f"Your linked Buddy token on {acting.host} may not start runs: it lacks the scope EXECUTION_RUN "
                "(PIPELINE_RUN on newer installations). Create a token with it and link your account again."
            )
        ref = planned.request.pipeline
        body = run_body(planned, run_comment(asked_by, planned.request.comment, unit.id))
        current = [acting]

        async def find() -> Result | None:
            try:
                found = await self._find(ref, current[0], unit.id)
            except errors.BuddyError as exc:
                raise RunRefused(
                    f"I was interrupted while starting {planned.pipeline_name}, and could not check whether it started "
                    f"({explain(exc, ref)}). Look at the pipeline in Buddy before trying again.",
                    result=FAILED,
                ) from None
            return found.as_result if found else None

        async def post() -> Result:
            try:
                execution, current[0] = await self._as(
                    current[0],
                    lambda client: client.run_pipeline(ref.host, ref.workspace, ref.project, ref.pipeline_id, body),
                )
            except errors.Unavailable as exc:
                # A write is sent once: it may have landed though its answer did not come back.
                found = await self._find_quietly(ref, current[0], unit.id)
                if found is None:
                    raise RunRefused(
                        f"Buddy did not answer whether {planned.pipeline_name} started ({exc.message}), and it is not "
                        "among the pipeline's latest runs yet. Look at the pipeline in Buddy before trying again.",
                        result=FAILED,
                    ) from None
                return found.as_result
            return _started(execution).as_result

        try:
            result = await self.work.effect(unit, POST_EFFECT, post, find=find)
        except errors.Forbidden as exc:
            raise RunRefused(
                f"Buddy does not let {_you(current[0])} run {planned.pipeline_name}{_said(exc)}. You may not run it in "
                "Buddy, or the token lacks the scope EXECUTION_RUN (PIPELINE_RUN on newer installations)."
            ) from None
        except errors.Rejected as exc:
            raise RunRefused(
                f"Buddy did not start {planned.pipeline_name}{_said(exc)}. Check branch=, revision= and the variables."
            ) from None
        except errors.NotFound as exc:
            raise RunRefused(
                f"Buddy has no pipeline {ref.pipeline_id} in {ref.workspace}/{ref.project} any more{_said(exc)}."
            ) from None
        except errors.BuddyError as exc:
            raise RunRefused(explain(exc, ref), result=FAILED) from None
        return StartedRun(result.get("execution_id"), result.get("html_url"))

    async def record(
        self,
        unit: Unit,
        acting: Acting | None,
        person: SlackPerson,
        request: RunRequest,
        *,
        result: str,
        detail: str = "",
        started: StartedRun | None = None,
    ) -> None:
        """The audit row of this run (one per unit, however often the unit is run)."""
        try:
            await self.audit.record(
                unit_id=unit.id,
                person=person,
                buddy_user=acting.buddy_user if acting else "",
                action="run",
                ref=request.pipeline,
                run_url=(started.html_url if started else None) or request.pipeline.web_url,
                result=result,
                detail=detail,
                execution_id=started.execution_id if started else None,
            )
        except StateUnavailable as exc:
            log.warning("run of %s by %s not audited: %s", request.pipeline.web_url, person.user, exc)

    async def confirm_once(self, origin: str, unit: Unit) -> bool:
        """True for the first click confirming the request of unit ``origin`` (and for that click's
        unit taken over); False for a later click: a run is confirmed, and started, once."""
        now = self.clock()
        key = f"run-confirm:{origin[:64]}"
        insert = sqlite_insert if self.state.is_sqlite else postgresql_insert
        async with self.state.begin() as db:
            await db.execute(delete(action_locks).where(action_locks.c.key.like("run-confirm:%"), action_locks.c.until < now))
            await db.execute(
                insert(action_locks)
                .values(key=key, unit_id=unit.id, until=now + CONFIRMATION_KEPT_S)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            holder = (await db.execute(select(action_locks.c.unit_id).where(action_locks.c.key == key))).scalar()
        return holder == unit.id

    async def _as(self, acting: Acting, call: Callable[[BuddyClient], Awaitable[Any]]) -> tuple[Any, Acting]:
        """``call`` with the acting token; a person's token refused (401) is refreshed once, else
        LinkExpired. Safe for the POST too: a 401 started nothing."""
        try:
            return await call(self._client(acting)), acting
        except errors.Unauthorized:
            if acting.with_bot_token:
                raise
        # One refresh (an OAuth token), else LinkExpired: the person links again.
        account = await self.identity.refused(acting.person, acting.host, acting.token)
        acting = replace(acting, token=account.token, buddy_user=account.buddy_user_name, scopes=account.scopes)
        try:
            return await call(self._client(acting)), acting
        except errors.Unauthorized:
            raise LinkExpired(acting.host) from None

    def _client(self, acting: Acting) -> BuddyClient:
        return self.client if acting.token is None else self.client.with_token(acting.token)

    async def _find(self, ref: BuddyRef, acting: Acting, unit_id: str) -> StartedRun | None:
        """The run this unit started, if it is on the pipeline's first page of runs."""
        wanted = mark(unit_id)
        listing, _ = await self._as(
            acting,
            lambda client: client.list_executions(
                ref.host, ref.workspace, ref.project, ref.pipeline_id, per_page=self.settings.buddy_execution_page_size
            ),
        )
        for execution in listing.executions:
            if wanted in (execution.comment or ""):
                return _started(execution)
        return None

    async def _find_quietly(self, ref: BuddyRef, acting: Acting, unit_id: str) -> StartedRun | None:
        try:
            return await self._find(ref, acting, unit_id)
        except errors.BuddyError as exc:
            log.info("could not look for the run of unit %s: %s", unit_id, type(exc).__name__)
            return None


def _started(execution: Execution) -> StartedRun:
    return StartedRun(execution.id, execution.html_url)


def _you(acting: Acting) -> str:
    return "the bot's token" if acting.with_bot_token else "you"


def _said(exc: errors.BuddyError) -> str:
    return f" (Buddy said: “{exc.message}”)" if exc.message and not exc.message.startswith("HTTP ") else ""


def confirmation_value(request_text: str, person: SlackPerson, origin: str) -> str:
    """The Run button's value: enough to rebuild the request, re-read and re-checked on the click."""
    return json.dumps(
        {"v": 1, "team": person.team, "user": person.user, "origin": origin, "args": request_text}, separators=(",", ":")
    )


@dataclass(frozen=True)
class Confirmation:
    team: str
    user: str
    origin: str
    args: str


def read_confirmation(value: str) -> Confirmation | None:
    """The Run button's value as the click brought it back; None for anything the bot did not make."""
    if len(value) > 2000:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != 1:
        return None
    team, user, origin, args = (data.get(name) for name in ("team", "user", "origin", "args"))
    if not (isinstance(team, str) and isinstance(user, str) and isinstance(origin, str) and isinstance(args, str)):
        return None
    return Confirmation(team, user, origin, args)
