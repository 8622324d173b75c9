"""From a Buddy reference to everything one answer needs, with as few API calls as possible.

Calls per lookup (the performance issue pins these counts):
- an action link with a numeric execution id: the details and the execution, concurrently (2 calls);
- a web (hex) execution id: plus the pages of ``…/executions`` scanned, once: the mapping never changes,
  and scans of one pipeline in flight together share the pages they read, as do scans starting within
  ``RECENT_PAGE_S`` of them (read again afresh, once, when the run is on none of those pages);
- a link without an action id: the execution, then the details of the action worth showing;
- a pipeline link: the first page of executions (one run), then as an execution link;
- where the details carry no ``log`` (newer installations): one or two calls to ``…/logs`` for the tail only,
  at the same time as the approver's name;
- a failed action: why it failed (``bot.why``), from the last ``WHY_MAX_LINES`` lines of its log. With
  ``log[]`` in the details that costs no call; through ``…/logs`` it is the tail's read made longer: a
  first page of 1,000 lines, then up to ``ceil(WHY_MAX_LINES / 1000)`` pages of 1,000 from the end, the
  last of which holds the tail (with the default 5,000 lines: at most 6 ``/logs`` calls where a
  successful run makes 2, so 4 more). A failed action's why is kept for the cache lifetime, so a fresh
  look at it (Refresh, a watch) reads only the tail again;
- the approver's name: Buddy's own ``BUDDY_APPROVING_ACTOR`` output when present, else the members
  endpoint, cached per workspace; the name of who terminated the run (``terminator_id``) the same way,
  only for a terminated run;
- a finished run looked up again within the cache lifetime: no call, however it is named (the API's
  id, the web's hex id once known, a pipeline link: its latest run, after the one page naming it);
  identical lookups in flight at the same moment share one set of calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from cachetools import LRUCache, TTLCache

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.models import ActionExecution, Execution, ExecutionList, LogPage, Person
from bot.buddy.refs import BuddyRef, RefKind
from bot.config import Settings
from bot.ops.metrics import process_metrics
from bot.report import RunReport
from bot.state.execution_ids import ExecutionIds
from bot.why.finder import find_why
from bot.why.model import Why
from bot.why.reading import PAGE_MAX, LogWindow, read_last, window_of

log = logging.getLogger(__name__)
T = TypeVar("T")
# An action execution's details (without their log), its log tail and line count, its approver's name,
# why it failed.
_Action = tuple[ActionExecution, list[str], int | None, str | None, Why | None]
# What the lookup learns from an action's log: the tail, the line count, why it failed.
_Log = tuple[list[str], int | None, Why | None]
# A web (hex) execution id, where it belongs: host, workspace, project, pipeline id, web id.
_WebIdKey = tuple[str, str, str, int, str | None]

APPROVING_ACTOR_VARIABLE = "BUDDY_APPROVING_ACTOR"
LOG_PAGE_MAX = PAGE_MAX  # the logs endpoint's largest page
RECENT_PAGE_S = 5.0  # a page of a pipeline's runs, read for a web id, serves the scans that start this soon after
PERSONAL_LOOKUPS = 256  # people reading at once with READ_AS_ASKER; the least recent are let go


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

    def __init__(
        self,
        client: BuddyClient,
        settings: Settings,
        *,
        shared_ids: ExecutionIds | None = None,
        finder: ThreadPoolExecutor | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        # Web ids other replicas (or this process before a restart) already found: no scan for those.
        self.shared_ids = shared_ids
        self.metrics = process_metrics()
        # Keyed by the run as the API names it (its integer execution id), not by how it was linked.
        self._finished: TTLCache[Hashable, RunReport] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        self._execution_ids: LRUCache[Hashable, int] = LRUCache(maxsize=settings.cache_size * 4)
        self._names: TTLCache[Hashable, str] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        # A failed action's log no longer changes: why it failed is found once per action execution.
        self._whys: TTLCache[Hashable, Why | None] = TTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl_s)
        # The finder is pure CPU (a few ms per thousand lines): on a thread of its own, one at a time,
        # so that the event loop keeps answering Slack while it reads.
        self._finder = finder or ThreadPoolExecutor(max_workers=1, thread_name_prefix="why")
        self._coalescer = Coalescer()
        self._recent_pages: TTLCache[Hashable, ExecutionList] = TTLCache(maxsize=256, ttl=RECENT_PAGE_S)
        # READ_AS_ASKER: a lookup per person's credential, each with its own caches and coalescing,
        # so that no answer read with one person's token is ever served to another.
        self._personal: LRUCache[str, Lookup] = LRUCache(maxsize=PERSONAL_LOOKUPS)

    @property
    def finder(self) -> ThreadPoolExecutor:
        """The one thread the why-finder runs on, shared by every lookup made from this one."""
        return self._finder

    def as_person(self, token: str) -> Lookup:
        """The lookup that reads with this token (the same one for as long as it is in use)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        lookup = self._personal.get(key)
        if lookup is None:
            lookup = Lookup(self.client.with_token(token), self.settings, shared_ids=self.shared_ids, finder=self._finder)
            self._personal[key] = lookup
        return lookup

    def workspace_allowed(self, ref: BuddyRef) -> bool:
        allowed = self.settings.buddy_workspaces
        return not allowed or ref.workspace.lower() in {w.lower() for w in allowed}

    async def report(self, ref: BuddyRef, *, lines: int | None = None, fresh: bool = False) -> RunReport:
        """Everything one answer about ``ref`` needs. ``fresh`` skips the cache (live updates, Refresh)."""
        lines = lines or self.settings.log_lines
        if not fresh:
            cached = self._cached(ref, self._known_execution_id(ref), lines)
            self.metrics.cache_lookup("finished_runs", hit=cached is not None)
            if cached is not None:
                return cached
        return await self._coalescer.run((ref, lines, fresh), lambda: self._fetch(ref, lines, fresh))

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

    async def _fetch(self, ref: BuddyRef, lines: int, fresh: bool) -> RunReport:
        execution_id = await self._execution_id(ref)
        # Only now known for a web id seen for the first time, or a pipeline's latest run.
        if not fresh and (cached := self._cached(ref, execution_id, lines)) is not None:
            return cached
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
        details, tail, total, approver, why = action or (None, [], None, None, None)
        report = RunReport(
            ref=ref,
            action=details,
            execution=execution,
            approver_name=approver,
            log_tail=tail,
            log_total_lines=total,
            actions=list(execution.action_executions) if execution else [],
            notes=notes,
            why=why,
        )
        if report.is_finished:
            self._finished[_run_key(ref, execution_id, lines)] = report
        return report

    def _cached(self, ref: BuddyRef, execution_id: int | None, lines: int) -> RunReport | None:
        """The finished run's report, as ``ref`` names it, when it is in the cache."""
        if execution_id is None:
            return None
        cached = self._finished.get(_run_key(ref, execution_id, lines))
        return cached if cached is None or cached.ref == ref else replace(cached, ref=ref)

    async def _action(self, ref: BuddyRef, execution_id: int, action_execution_id: str, lines: int) -> _Action:
        """The details, then at once what they lead to: the log tail (where they carry no log), the
        approver's name and who terminated the run; none waits for the execution, nor for the others."""
        details = await self._details(ref, execution_id, action_execution_id)
        (tail, total, why), approver, terminator = await asyncio.gather(
            self._log(ref, execution_id, details, lines), self._approver_name(ref, details), self._terminator(ref, details)
        )
        # The report keeps the tail only: it may be cached for an hour, and a log may be megabytes.
        details = details.model_copy(update={"log": None, "terminated_by": terminator})
        return details, tail, total, approver, why

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
        if (known := self._known_execution_id(ref)) is not None:
            return known
        if ref.kind is RefKind.PIPELINE:
            listing = await self.client.list_executions(ref.host, ref.workspace, ref.project, ref.pipeline_id, per_page=1)
            if not listing.executions or listing.executions[0].id is None:
                raise errors.NotFound("this pipeline has no runs yet", host=ref.host)
            return listing.executions[0].id
        key = _web_id_key(ref)
        if self.shared_ids is not None and ref.execution_id is not None:
            shared = await self.shared_ids.get((*key[:-1], ref.execution_id))
            self.metrics.cache_lookup("execution_ids", hit=shared is not None)
            if shared is not None:
                self._execution_ids[key] = shared
                return shared
        return await self._coalescer.run(("scan", key), lambda: self._scan_for(ref, key, recent_pages=True))

    def _known_execution_id(self, ref: BuddyRef) -> int | None:
        """The API's integer id when it costs no call: given, or a web id already seen on a scanned page."""
        if ref.execution_id is None:
            return None  # a pipeline: its latest run may have changed
        if ref.execution_id_is_numeric:
            return int(ref.execution_id)
        return self._execution_ids.get(_web_id_key(ref))

    async def _scan_for(self, ref: BuddyRef, key: _WebIdKey, *, recent_pages: bool) -> int:
        per_page = self.settings.buddy_execution_page_size
        pages = self.settings.buddy_execution_pages
        reused = False
        for page in range(1, pages + 1):
            page_key = ("page", *key[:-1], page, per_page)
            listing = self._recent_pages.get(page_key) if recent_pages else None
            reused = reused or listing is not None
            if listing is None:
                # Scans for different runs of one pipeline at the same moment share each page they read,
                # and a scan that starts just after another reuses its pages (RECENT_PAGE_S).
                listing = await self._coalescer.run(page_key, self._list_page(ref, page, per_page))
                self._recent_pages[page_key] = listing
            seen = [(key[:-1] + (e.web_id,), e.id) for e in listing.executions if e.id is not None and e.web_id]
            for web_key, api_id in seen:
                # Every id seen is remembered: the next lookup of a neighbouring run costs nothing.
                self._execution_ids[web_key] = api_id
            if self.shared_ids is not None:
                await self.shared_ids.remember(seen)
            if (found := self._execution_ids.get(key)) is not None:
                return found
            if not listing.executions or (listing.total_page_count or 0) <= page:
                break
        if reused:  # a page read a moment ago may predate this run: once more, every page read afresh
            return await self._scan_for(ref, key, recent_pages=False)
        raise errors.NotFound(
            f"run {ref.execution_id} is not among the latest {pages * per_page} runs of pipeline {ref.pipeline_id}",
            host=ref.host,
        )

    def _list_page(self, ref: BuddyRef, page: int, per_page: int) -> Callable[[], Awaitable[ExecutionList]]:
        return lambda: self.client.list_executions(
            ref.host, ref.workspace, ref.project, ref.pipeline_id, page=page, per_page=per_page
        )

    async def _log(self, ref: BuddyRef, execution_id: int, details: ActionExecution, lines: int) -> _Log:
        """The log's tail and, for a failed action, why it failed: one read of the log's end, as long
        as the finder's window where the why is not known yet."""
        action_execution_id = details.id_from_url or ref.action_execution_id
        why_key = (ref.host, ref.workspace, ref.project, ref.pipeline_id, execution_id, action_execution_id)
        failed = (details.status or "").upper() == "FAILED"
        find = failed and why_key not in self._whys
        size = max(lines, self.settings.why_max_lines) if find else lines
        window = await self._log_window(ref, execution_id, action_execution_id, details, size, first_page=size if find else lines)
        if window is None:
            return [], None, None
        why = self._whys.get(why_key) if failed else None
        if find:
            why = self._whys[why_key] = await self._find_why(window.last(self.settings.why_max_lines))
        return window.last(lines).lines, window.total, why

    async def _log_window(
        self,
        ref: BuddyRef,
        execution_id: int,
        action_execution_id: str | None,
        details: ActionExecution,
        size: int,
        first_page: int,
    ) -> LogWindow | None:
        """The last ``size`` lines: from the details' ``log[]`` when they carry it, else from ``…/logs``;
        None where neither is there (older installations have no logs endpoint)."""
        if details.log is not None:
            return window_of(details.log, size)
        if not action_execution_id:
            return None

        def fetch(offset: int, limit: int) -> Awaitable[LogPage]:
            return self.client.get_logs(
                ref.host,
                ref.workspace,
                ref.project,
                ref.pipeline_id,
                execution_id,
                action_execution_id,
                offset=offset,
                limit=limit,
            )

        try:
            return await read_last(fetch, size, first_page=first_page)
        except errors.NotFound:
            return None

    async def _find_why(self, window: LogWindow) -> Why | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._finder, lambda: find_why(window.lines, first_line_number=window.first_line_number)
        )

    async def _approver_name(self, ref: BuddyRef, details: ActionExecution) -> str | None:
        if details.approver_id is None:
            return None
        if (named := approver_from_outputs(details)) is not None:
            return named
        return await self._member_name(ref, details.approver_id)

    async def _terminator(self, ref: BuddyRef, details: ActionExecution) -> Person | None:
        """Who stopped the run: as Buddy named them, else the member behind ``terminator_id``."""
        named = details.terminated_by
        if details.terminator_id is None or (named is not None and named.name):
            return named
        return Person(id=details.terminator_id, name=await self._member_name(ref, details.terminator_id))

    async def _member_name(self, ref: BuddyRef, member_id: int) -> str:
        """A workspace member's name from the members endpoint, cached; ``user #<id>`` when Buddy does not say."""
        key = (ref.host, ref.workspace, member_id)
        known = self._names.get(key)
        self.metrics.cache_lookup("approver_names", hit=known is not None)
        if known is not None:
            return known
        try:
            member = await self._coalescer.run(
                ("member", key), lambda: self.client.get_member(ref.host, ref.workspace, member_id)
            )
        except errors.BuddyError as exc:
            log.info("member %s not resolved: %s", member_id, type(exc).__name__)
            return f"user #{member_id}"
        name = member.name or f"user #{member_id}"
        self._names[key] = name
        return name


def _run_key(ref: BuddyRef, execution_id: int, lines: int) -> Hashable:
    """One run (or one action of it) and how much of its log, however it was linked."""
    return (ref.host, ref.workspace, ref.project, ref.pipeline_id, execution_id, ref.action_execution_id, lines)


def _web_id_key(ref: BuddyRef) -> _WebIdKey:
    return (ref.host, ref.workspace, ref.project, ref.pipeline_id, ref.execution_id)


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
    candidates = started or actions
    return candidates[-1] if candidates else None
