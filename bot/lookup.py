"""From a Buddy reference to everything one answer needs, with as few API calls as possible.

Calls per lookup (the performance issue pins these counts):
- an action link with a numeric execution id: the details and the execution, concurrently (2 calls);
- a web (hex) execution id: plus the pages of ``…/executions`` scanned, once: the mapping never changes,
  and scans of one pipeline in flight together share the pages they read;
- a link without an action id: the execution, then the details of the action worth showing;
- a pipeline link: the first page of executions (one run), then as an execution link;
- where the details carry no ``log`` (newer installations): one or two calls to ``…/logs`` for the tail only,
  at the same time as the approver's name;
- the approver's name: Buddy's own ``BUDDY_APPROVING_ACTOR`` output when present, else the members
  endpoint, cached per workspace;
- a finished run looked up again within the cache lifetime: no call; identical lookups in flight at
  the same moment share one set of calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from cachetools import LRUCache, TTLCache

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef, RefKind
from bot.config import Settings
from bot.report import RunReport

log = logging.getLogger(__name__)
T = TypeVar("T")
# An action execution's details (without their log), its log tail and line count, its approver's name.
_Action = tuple[ActionExecution, list[str], int | None, str | None]

APPROVING_ACTOR_VARIABLE = "BUDDY_APPROVING_ACTOR"
LOG_PAGE_MAX = 1000  # the logs endpoint's largest page


class Coalescer:
    """Runs one coroutine per key at a time; concurrent callers with the same key share its result."""

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future] = {}

    async def run(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            self._inflight[key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(key, None))
        # shield: one caller giving up (a cancelled task) must not cancel the others' lookup.
        return await asyncio.shield(future)


class Lookup:
    """The bot's core service: ``report(ref)`` gathers a RunReport; caching and coalescing live here."""

    def __init__(self, client: BuddyClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._finished: TTLCache[Hashable, RunReport] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        self._execution_ids: LRUCache[Hashable, int] = LRUCache(maxsize=settings.cache_size * 4)
        self._names: TTLCache[Hashable, str] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        self._coalescer = Coalescer()

    def workspace_allowed(self, ref: BuddyRef) -> bool:
        allowed = self.settings.buddy_workspaces
        return not allowed or ref.workspace.lower() in {w.lower() for w in allowed}

    async def report(self, ref: BuddyRef, *, lines: int | None = None, fresh: bool = False) -> RunReport:
        """Everything one answer about ``ref`` needs. ``fresh`` skips the cache (live updates, Refresh)."""
        lines = lines or self.settings.log_lines
        key = (ref, lines, fresh)
        if not fresh and (cached := self._finished.get((ref, lines))) is not None:
            return cached
        return await self._coalescer.run(key, lambda: self._fetch(ref, lines))

    async def log_before(self, ref: BuddyRef, end: int, count: int) -> tuple[list[str], int]:
        """Up to ``count`` log lines of the action before line ``end`` (for "More log"), and the first
        line's index. ``ref`` must name an action execution."""
        execution_id = await self._execution_id(ref)
        assert ref.action_execution_id is not None
        start = max(0, end - count)
        if start >= end:
            return [], start
        page = await self.client.get_logs(
            ref.host,
            ref.workspace,
            ref.project,
            ref.pipeline_id,
            execution_id,
            ref.action_execution_id,
            offset=start,
            limit=min(end - start, LOG_PAGE_MAX),
        )
        if page.logs is not None:
            return page.logs, start
        details = await self.client.get_action_execution(
            ref.host, ref.workspace, ref.project, ref.pipeline_id, execution_id, ref.action_execution_id
        )
        return (details.log or [])[start:end], start

    # -- the fetch -------------------------------------------------------------------------------

    async def _fetch(self, ref: BuddyRef, lines: int) -> RunReport:
        execution_id = await self._execution_id(ref)
        notes: list[str] = []
        action: _Action | None = None
        if ref.action_execution_id:
            action, execution = await asyncio.gather(
                self._action(ref, execution_id, ref.action_execution_id, lines),
                self._execution_or_note(ref, execution_id, notes),
            )
        else:
            execution = await self._execution(ref, execution_id)
            chosen = pick_action(execution.action_executions)
            if chosen is not None and chosen.id_from_url:
                action = await self._action(ref, execution_id, chosen.id_from_url, lines)
        details, tail, total, approver = action or (None, [], None, None)
        report = RunReport(
            ref=ref,
            action=details,
            execution=execution,
            approver_name=approver,
            log_tail=tail,
            log_total_lines=total,
            actions=list(execution.action_executions) if execution else [],
            notes=notes,
        )
        if report.is_finished and ref.kind is not RefKind.PIPELINE:
            self._finished[(ref, lines)] = report
        return report

    async def _action(self, ref: BuddyRef, execution_id: int, action_execution_id: str, lines: int) -> _Action:
        """The details, then at once what they lead to: the log tail (where they carry no log) and the
        approver's name; neither waits for the execution, nor for the other."""
        details = await self._details(ref, execution_id, action_execution_id)
        (tail, total), approver = await asyncio.gather(
            self._log_tail(ref, execution_id, details, lines), self._approver_name(ref, details)
        )
        if details.log is not None:
            # The report keeps the tail only: it may be cached for an hour, and a log may be megabytes.
            details = details.model_copy(update={"log": None})
        return details, tail, total, approver

    async def _details(self, ref: BuddyRef, execution_id: int, action_execution_id: str) -> ActionExecution:
        return await self.client.get_action_execution(
            ref.host, ref.workspace, ref.project, ref.pipeline_id, execution_id, action_execution_id
        )

    async def _execution(self, ref: BuddyRef, execution_id: int) -> Execution:
        return await self.client.get_execution(ref.host, ref.workspace, ref.project, ref.pipeline_id, execution_id)

    async def _execution_or_note(self, ref: BuddyRef, execution_id: int, notes: list[str]) -> Execution | None:
        """The execution adds branch, revision and trigger; the answer still comes without it."""
        try:
            return await self._execution(ref, execution_id)
        except errors.BuddyError as exc:
            notes.append(f"Run details (branch, revision, trigger) unavailable: {exc.message or type(exc).__name__}")
            return None

    async def _execution_id(self, ref: BuddyRef) -> int:
        """The API's integer id: as given, the latest run of a pipeline, or found by the web id."""
        if ref.kind is RefKind.PIPELINE:
            listing = await self.client.list_executions(ref.host, ref.workspace, ref.project, ref.pipeline_id, per_page=1)
            if not listing.executions or listing.executions[0].id is None:
                raise errors.NotFound("this pipeline has no runs yet", host=ref.host)
            return listing.executions[0].id
        assert ref.execution_id is not None
        if ref.execution_id_is_numeric:
            return int(ref.execution_id)
        key = (ref.host, ref.workspace, ref.project, ref.pipeline_id, ref.execution_id)
        if (known := self._execution_ids.get(key)) is not None:
            return known
        return await self._coalescer.run(("scan", key), lambda: self._scan_for(ref, key))

    async def _scan_for(self, ref: BuddyRef, key: Hashable) -> int:
        per_page = self.settings.buddy_execution_page_size
        pages = self.settings.buddy_execution_pages
        for page in range(1, pages + 1):
            # Scans for different runs of one pipeline at the same moment share each page they read.
            listing = await self._coalescer.run(
                ("page", *key[:-1], page, per_page),
                lambda page=page: self.client.list_executions(
                    ref.host, ref.workspace, ref.project, ref.pipeline_id, page=page, per_page=per_page
                ),
            )
            for execution in listing.executions:
                if execution.id is not None and execution.web_id:
                    # Every id seen is remembered: the next lookup of a neighbouring run costs nothing.
                    self._execution_ids[key[:-1] + (execution.web_id,)] = execution.id
            if (found := self._execution_ids.get(key)) is not None:
                return found
            if not listing.executions or (listing.total_page_count or 0) <= page:
                break
        raise errors.NotFound(
            f"run {ref.execution_id} is not among the latest {pages * per_page} runs of pipeline {ref.pipeline_id}",
            host=ref.host,
        )

    async def _log_tail(
        self, ref: BuddyRef, execution_id: int, details: ActionExecution, lines: int
    ) -> tuple[list[str], int | None]:
        if details.log is not None:
            return details.log[-lines:], len(details.log)
        action_execution_id = details.id_from_url or ref.action_execution_id
        if not action_execution_id:
            return [], None
        try:
            first = await self.client.get_logs(
                ref.host,
                ref.workspace,
                ref.project,
                ref.pipeline_id,
                execution_id,
                action_execution_id,
                offset=0,
                limit=lines,
            )
            total = first.total_element_count or 0
            if total <= lines:
                return first.logs or [], total
            last = await self.client.get_logs(
                ref.host,
                ref.workspace,
                ref.project,
                ref.pipeline_id,
                execution_id,
                action_execution_id,
                offset=total - lines,
                limit=lines,
            )
            return last.logs or [], total
        except errors.NotFound:
            return [], None  # older installations have no logs endpoint

    async def _approver_name(self, ref: BuddyRef, details: ActionExecution) -> str | None:
        if details.approver_id is None:
            return None
        if (named := approver_from_outputs(details)) is not None:
            return named
        key = (ref.host, ref.workspace, details.approver_id)
        if (known := self._names.get(key)) is not None:
            return known
        try:
            member = await self._coalescer.run(
                ("member", key), lambda: self.client.get_member(ref.host, ref.workspace, details.approver_id)
            )
        except errors.BuddyError as exc:
            log.info("approver %s not resolved: %s", details.approver_id, type(exc).__name__)
            return f"user #{details.approver_id}"
        name = member.name or f"user #{details.approver_id}"
        self._names[key] = name
        return name


def approver_from_outputs(details: ActionExecution) -> str | None:
    """Buddy records the approver's name in the run's own output: no API call needed."""
    for variable in details.outputted_variables:
        if variable.key == APPROVING_ACTOR_VARIABLE and variable.value:
            return variable.value
    return None


def pick_action(actions: list[ActionExecution]) -> ActionExecution | None:
    """The action worth showing: the failed one, else the running one, else the last one."""
    for action in actions:
        if (action.status or "").upper() == "FAILED":
            return action
    for action in actions:
        if not action.is_finished and (action.status or "").upper() not in {"ENQUEUED", "INITIAL"}:
            return action
    started = [a for a in actions if (a.status or "").upper() not in {"ENQUEUED", "INITIAL", "NOT_EXECUTED", "SKIPPED"}]
    return (started or actions or [None])[-1]
