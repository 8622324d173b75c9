"""Puts subscribed runs in front of their channels: one message per run, updated in place, with the
failed action's details in its thread.

A failure's announcement mentions the commit's author (their email mapped to a Slack user), and with
NOTIFY_AUTHORS the first failure of a streak sends them one DM per run. A failure of a flaky action
goes, with FLAKY_QUIET, into the thread of the bot's last top-level post for the pipeline in the
channel, naming the author without a mention and without a DM. Every post is an effect of the
announcement's unit of work: a crash repeats none of them.

Each channel has its own queue and worker, so messages reach a channel complete and in the order
the runs were reported, and Slack's one message per second per channel (SLACK_CHANNEL_PACING_S) is
kept under bursts by waiting, never by dropping. What was posted is recorded per (channel, run), and
checked again right before posting: push and pull may report the same run at the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer, Responder
from bot.buddy.models import Execution
from bot.identity.accounts import SlackPerson
from bot.render.announcement import render_announcement, render_author_dm
from bot.render.notice import render_notice
from bot.report import RunReport
from bot.slack.authors import SlackAuthors
from bot.slack.clients import NotInstalled, SlackClients, Workspace, installation_key
from bot.slack.delivery import UNREACHABLE, post_log, post_message, slack_error
from bot.slack.effects import SlackEffects
from bot.state.schedules import Schedules
from bot.state.store import StateUnavailable
from bot.subscriptions.events import RunEvent, watched_event
from bot.subscriptions.router import FAILED, Delivery
from bot.subscriptions.store import SubscriptionStore
from bot.watch import Watch, Watcher
from bot.why.authors import Author, AuthorStore, commit_author, tells_author
from bot.why.flaky import FlakyAction, LastPosts, OutcomeHistory
from bot.work.queue import Unit, WorkQueue

log = logging.getLogger(__name__)

SUBSCRIBER_UNLINKED = (
    "This run failed. Its details are read with the Buddy account of the person who subscribed this channel, "
    "and that account is no longer linked: they can link it again with `/buddy login`, or someone else can "
    "subscribe the channel again."
)

ANNOUNCEMENT = "announcement"  # the watch style of an announced run
ANNOUNCE = "announce"  # the kind of unit of work that announces one run in one channel


class SubscriptionPublisher:
    def __init__(
        self,
        clients: SlackClients,
        store: SubscriptionStore,
        responder: Responder,
        *,
        pacing_s: float,
        watcher: Watcher | None = None,
        work: WorkQueue,
        schedules: Schedules | None = None,
        responder_of: Callable[[str | None], Awaitable[Responder]] | None = None,
    ) -> None:
        self.clients = clients
        self.work = work
        self.schedules = schedules
        self.store = store
        self.responder = responder
        # The responder with the settings of a delivery's Slack workspace (bot.tenancy).
        self.responder_of = responder_of
        self.pacing_s = pacing_s
        self.watcher = watcher
        self.settings = responder.settings
        self.slack_authors: dict[str | None, SlackAuthors] = {}  # per workspace: its own people
        self.authors = AuthorStore(store.state)
        self.history = OutcomeHistory(store.state)
        self.last_posts = LastPosts(store.state)
        self._queues: dict[str, asyncio.Queue[Unit]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._last_write: dict[str, float] = {}

    def submit(self, unit: Unit) -> None:
        """Queues an announcement behind the others of its channel."""
        channel = unit.payload["channel"]
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = asyncio.Queue()
            self._workers[channel] = asyncio.create_task(self._work(queue), name=f"announce-{channel}")
        queue.put_nowait(unit)

    async def idle(self) -> None:
        """Returns once every submitted delivery has been handled (an orderly shutdown waits for it)."""
        await asyncio.gather(*(queue.join() for queue in list(self._queues.values())))

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[Unit]) -> None:
        while True:
            unit = await queue.get()
            try:
                await self.work.run(unit)
            finally:
                queue.task_done()

    async def publish_unit(self, unit: Unit) -> None:
        """The unit's work: also what a take-over after a crash runs, with the effects recorded so far."""
        delivery = Delivery.from_payload(unit.payload)
        try:
            client = await self.clients.for_key(delivery.team)
        except NotInstalled as exc:
            log.warning("not announcing %s in %s: %s", delivery.event.run_url, delivery.channel, exc)
            return
        try:
            await self._publish(delivery, SlackEffects(client, self.work, unit))
        except SlackApiError as exc:
            _log_refusal(delivery, exc)

    async def _publish(self, delivery: Delivery, effects: SlackEffects) -> None:
        channel, event = delivery.channel, delivery.event
        announced = await self.store.announcement(channel, event.run_url)
        if announced is not None and announced.final:
            return  # already said, by the other way in or before a restart
        failed = delivery.stage == "end" and event.status == FAILED
        # A failure's details are looked up first: they tell which actions failed when the event does
        # not (a poll), and the why for the author's DM.
        responder = await self.responder_of(delivery.team) if self.responder_of is not None else self.responder
        reader = self._reader(delivery, responder)
        details = await responder.answer(event.ref, person=reader) if failed else None
        if details is not None and details.private:  # the subscriber's Buddy account is no longer linked
            details = Answer(ref=event.ref, message=render_notice(SUBSCRIBER_UNLINKED))
        found = details.report.execution if details is not None and details.report is not None else None
        flaky = await self._flaky(event, found) if failed else []
        quiet_in = await self._quiet_thread(channel, event, effects) if flaky and announced is None else None
        author = await self._author(event, found, effects.client)
        message = render_announcement(
            event, change=delivery.change, author=author, mention=failed and quiet_in is None, flaky=flaky
        )
        ts = None
        if announced is not None and delivery.stage == "end":
            ts = await self._update(channel, announced.ts, message, effects)
        elif announced is not None:
            ts = announced.ts  # the start was posted and recorded; only what follows it is left to do
        if ts is None and quiet_in is not None:
            posted = await self._paced(channel, lambda: effects.post("end:quiet", channel=channel, thread_ts=quiet_in, **message))
            ts = posted["ts"]
        if ts is None:
            posted = await self._paced(channel, lambda: effects.post(f"{delivery.stage}:post", channel=channel, **message))
            ts = posted["ts"]
            await self._soft(self.last_posts.record(channel, event.pipeline, ts))
        if delivery.stage == "start":
            await self.store.record_announcement(channel, event.run_url, ts=ts, final=False)
            if self.watcher is not None:  # the live-status watch keeps the message current while the run goes on
                await self.watcher.watch(event.ref, channel=channel, ts=ts, style=ANNOUNCEMENT, team=delivery.team, reader=reader)
            return
        if failed and details is not None:
            thread = quiet_in or ts
            await self._soft(self.authors.record_thread(event.run_url, channel, thread))
            await self._thread_details(channel, details, thread, effects)
            quiet = quiet_in is not None
            if author is not None and tells_author(
                notify_authors=self.settings.notify_authors, first_failure=delivery.first_failure, quiet=quiet
            ):
                await self._tell_author(event, author, details, effects)
        # Last: until it is recorded as final, a take-over after a crash finishes what is missing.
        await self.store.record_announcement(channel, event.run_url, ts=ts, final=True)

    async def _update(self, channel: str, ts: str, message: dict, effects: SlackEffects) -> str | None:
        """The start message, now showing the end; None when it is gone (deleted), so a new one is posted."""
        try:
            await self._paced(channel, lambda: effects.update("end:update", channel=channel, ts=ts, **message))
        except SlackApiError as exc:
            if slack_error(exc) != "message_not_found":
                raise
            return None
        return ts

    def _reader(self, delivery: Delivery, responder: Responder) -> SlackPerson | None:
        """READ_AS_ASKER: whose Buddy account reads a subscription's runs (who subscribed the channel)."""
        workspace = Workspace.from_key(delivery.team)
        if not responder.settings.read_as_asker or not delivery.subscriber or workspace is None:
            return None
        return SlackPerson(workspace.person_team, delivery.subscriber)

    async def _thread_details(self, channel: str, answer: Answer, thread_ts: str, effects: SlackEffects) -> None:
        """The failed action's summary and log tail, looked up like a pasted link, under the message."""
        await self._paced(channel, lambda: effects.post("details", channel=channel, thread_ts=thread_ts, **answer.message))
        if answer.snippet:
            await self._paced(
                channel,
                lambda: post_log(effects.client, answer, channel=channel, thread_ts=thread_ts, effects=effects, name="details"),
            )

    async def _flaky(self, event: RunEvent, found: Execution | None) -> list[FlakyAction]:
        """The run's failed actions that are flaky; the lookup's outcomes join the history first."""
        execution = event.execution if event.execution.action_executions or found is None else found
        try:
            if found is not None:
                await self.history.record(event.pipeline, found)
            return await self.history.flaky(event.pipeline, execution, window=self.settings.flaky_window)
        except StateUnavailable:
            return []  # without the history, a failure is announced as any other

    async def _quiet_thread(self, channel: str, event: RunEvent, effects: SlackEffects) -> str | None:
        """With FLAKY_QUIET, the thread a flaky failure goes into: the last top-level post for the
        pipeline here. Decided once per unit, so a take-over puts the failure in the same place."""
        if not self.settings.flaky_quiet:
            return None

        async def decide() -> dict[str, Any]:
            try:
                return {"thread_ts": await self.last_posts.last(channel, event.pipeline)}
            except StateUnavailable:
                return {"thread_ts": None}

        decided = await effects.queue.effect(effects.unit, "end:placement", decide)
        return decided.get("thread_ts")

    async def _author(self, event: RunEvent, found: Execution | None, client: AsyncWebClient) -> Author | None:
        """The commit's author, as the workspace's Slack knows them when their email maps to a Slack user."""
        author = commit_author(event.execution) or commit_author(found)
        if author is None or author.email is None:
            return author
        key = installation_key(client)
        slack_authors = self.slack_authors.get(key) or self.slack_authors.setdefault(key, SlackAuthors(client))
        slack_authors.client = client  # the workspace's token as of now (rotated, reinstalled)
        user = await slack_authors.user(author.email)
        return author.in_slack(user.id, user.name) if user is not None else author

    async def _tell_author(self, event: RunEvent, author: Author, details: Answer, effects: SlackEffects) -> None:
        """One DM per run to the author known in Slack, unless someone already took the failure on."""
        user = author.slack_user
        if user is None:
            return
        try:
            if await self.authors.claimer(event.run_url) is not None:
                return
            if not await self.authors.take_dm(event.run_url, effects.unit.id, user):
                return  # another channel's announcement of this run sends it
        except StateUnavailable:
            return  # a DM that might go twice is worse than none: the channel has the announcement
        message = render_author_dm(event, author, details.report.why if details.report is not None else None)
        try:
            opened = await effects.client.conversations_open(users=user)
            await post_message(effects.client, effects, "author-dm", channel=opened["channel"]["id"], **message)
        except SlackApiError as exc:
            # cannot_dm_bot, user_not_found, a user who left: said once, never tried again for this run.
            log.warning("could not DM the author of %s (%s); not tried again", event.run_url, slack_error(exc))

    async def _soft(self, write: Awaitable[None]) -> None:
        """A record that helps later (where a failure's thread is, the last post) but must not stop this one."""
        try:
            await write
        except StateUnavailable as exc:
            log.info("state store unavailable (%s); announcing without recording it", exc)

    async def _paced(self, channel: str, write: Callable[[], Awaitable[Any]]) -> Any:
        """One write, SLACK_CHANNEL_PACING_S after the channel's last, from this replica or another."""
        wait = self._last_write.get(channel, float("-inf")) + self.pacing_s - time.monotonic()
        if self.schedules is not None and self.pacing_s > 0:
            with contextlib.suppress(StateUnavailable):  # without the store, this replica's own pace
                wait = max(wait, await self.schedules.reserve_slot(f"pace:{channel}", self.pacing_s))
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await write()
        finally:
            self._last_write[channel] = time.monotonic()


def announcement_style(responder: Responder) -> Callable[[Watch, RunReport], Answer]:
    """How the live-status watch renders an announced run: the same message, without a log of its
    own (a failure's details go in the thread when the end is announced)."""

    def render(watch: Watch, report: RunReport) -> Answer:
        event = watched_event(report)
        if event is None:  # the lookup could not fetch the run itself: show what it did find
            return responder.summary(report)
        return Answer(ref=report.ref, message=render_announcement(event), report=report)

    return render


def _log_refusal(delivery: Delivery, exc: SlackApiError) -> None:
    error = slack_error(exc)
    if error in UNREACHABLE:
        log.warning(
            "cannot post in %s (%s): invite the bot there (/invite @buddy) or remove the subscription (/buddy unsubscribe)",
            delivery.channel,
            error,
        )
    else:
        log.warning("Slack refused the announcement of %s in %s: %s", delivery.event.run_url, delivery.channel, error)
