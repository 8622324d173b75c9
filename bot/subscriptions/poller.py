"""Pull: every interval, the first page of each subscribed pipeline's runs, newest first.

One request per pipeline per interval, however many channels follow it (plus one for the pipeline
list of each followed project), per credential: a Slack installation with its own Buddy token (or one
that reads only with people's linked accounts) polls what it follows with that token (``credential``),
never with the operator's. This is how runs reach the bot without a public address (Socket
Mode), when a webhook delivery is lost, and after a restart: the first poll catches up on runs
that ended while the bot was down (the router decides which of them are news).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable

from cachetools import LRUCache

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.state.schedules import Schedules
from bot.state.store import StateUnavailable
from bot.subscriptions.buddy_api import pipelines_of
from bot.subscriptions.events import RunEvent, polled_event
from bot.subscriptions.store import Followed, PipelineKey, SubscriptionStore

log = logging.getLogger(__name__)

PAGE_SIZE = 10  # runs per pipeline per poll: more than start or end within one interval
CONCURRENT_REQUESTS = 8
SEEN_RUNS = 20_000
BOT_CREDENTIAL = ""  # the poller's own client (BUDDY_TOKEN)
# Whose credential polls what a subscriber of an installation follows: a name for it (BOT_CREDENTIAL for
# the poller's own client) and the client that reads with it; None when nobody's may (logged).
Credential = Callable[[Followed], Awaitable[tuple[str, BuddyClient] | None]]


class Poller:
    def __init__(
        self,
        client: BuddyClient,
        store: SubscriptionStore,
        on_event: Callable[[RunEvent], Awaitable[None]],
        *,
        interval: float,
        hosts: Iterable[str] = (),
        schedules: Schedules | None = None,
        credential: Credential | None = None,
    ) -> None:
        self.client = client
        self.credential = credential
        # Shared with the other replicas: each pipeline is polled by one of them per interval.
        self.schedules = schedules
        self.store = store
        self.on_event = on_event
        self.interval = interval
        self.hosts = tuple(hosts)
        # The status each run had when last handed on: an unchanged run is not handed on again.
        self._seen: LRUCache[str, str] = LRUCache(maxsize=SEEN_RUNS)
        self._problems: dict[object, str] = {}
        self._limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval)

    async def poll_once(self) -> None:
        pipelines = await self._pipelines()
        mine = [
            (name, client, pipeline)
            for name, client, pipeline in pipelines
            if await self._my_turn(_job("poll", name), pipeline.folded)
        ]
        await asyncio.gather(*(self._poll(client, pipeline) for _, client, pipeline in mine))

    async def _my_turn(self, job: str, what: tuple) -> bool:
        if self.schedules is None:
            return True
        try:
            return await self.schedules.my_turn(f"{job}:{json.dumps(list(what))}", self.interval)
        except StateUnavailable:
            return True  # without the store, polling twice beats missing a run: the announcements dedupe

    async def _pipelines(self) -> list[tuple[str, BuddyClient, PipelineKey]]:
        """Each followed pipeline once per credential that polls it."""
        found: dict[tuple, tuple[str, BuddyClient, PipelineKey]] = {}
        listed: set[tuple] = set()
        for followed in await self.store.followed():
            target = followed.target
            credential = await self._credential(followed)
            if credential is None:
                continue
            name, client = credential
            folded = (name, target.host.lower(), target.workspace.lower(), target.project.lower(), target.pipeline_id)
            if folded in listed:
                continue
            listed.add(folded)
            if target.pipeline_id is None and not await self._my_turn(_job("list", name), folded[1:4]):
                continue  # another replica lists this project's pipelines (and polls them) this time
            try:
                keys = await pipelines_of(client, target)
            except errors.BuddyError as exc:
                self._problem(target, exc)
                continue
            self._problems.pop(target, None)
            for key in keys:
                found.setdefault((name, *key.folded), (name, client, key))
        return list(found.values())

    async def _credential(self, followed: Followed) -> tuple[str, BuddyClient] | None:
        if self.credential is None:
            return BOT_CREDENTIAL, self.client
        try:
            return await self.credential(followed)
        except StateUnavailable:
            return None  # whose it is cannot be read now: polled again next interval

    async def _poll(self, client: BuddyClient, pipeline: PipelineKey) -> None:
        async with self._limit:
            try:
                listing = await client.list_executions(
                    pipeline.host, pipeline.workspace, pipeline.project, pipeline.pipeline_id, per_page=PAGE_SIZE
                )
            except errors.BuddyError as exc:
                self._problem(pipeline, exc)
                return
        self._problems.pop(pipeline, None)
        for execution in reversed(listing.executions):  # oldest first, so changes are judged in order
            event = polled_event(pipeline, execution, hosts=self.hosts)
            if event is None or self._seen.get(event.run_url) == event.status:
                continue
            try:
                await self.on_event(event)
            except Exception:
                log.exception("a polled run of %s could not be handled", event.run_url)
                continue
            self._seen[event.run_url] = event.status

    def _problem(self, where: object, exc: errors.BuddyError) -> None:
        """Logged when it starts or changes, not on every interval."""
        said = f"{type(exc).__name__}: {exc.message}"
        if self._problems.get(where) != said:
            log.warning("polling %s failed (%s); trying again every %g s", where, said, self.interval)
        self._problems[where] = said


def _job(job: str, credential: str) -> str:
    """The shared schedule's job: one per credential (the poller's own keeps the job's bare name)."""
    return job if credential == BOT_CREDENTIAL else f"{job}@{credential}"
