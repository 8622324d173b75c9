"""Puts subscribed runs in front of their channels: one message per run, updated in place, with the
failed action's details in its thread.

Each channel has its own queue and worker, so messages reach a channel complete and in the order
the runs were reported, and Slack's one message per second per channel (SLACK_CHANNEL_PACING_S) is
kept under bursts by waiting, never by dropping. What was posted is recorded per (channel, run), and
checked again right before posting: push and pull may report the same run at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer, Responder
from bot.render.announcement import render_announcement
from bot.report import RunReport
from bot.slack.delivery import UNREACHABLE, post_log, slack_error
from bot.subscriptions.events import watched_event
from bot.subscriptions.router import FAILED, Delivery
from bot.subscriptions.store import SubscriptionStore
from bot.watch import Watch, Watcher

log = logging.getLogger(__name__)

ANNOUNCEMENT = "announcement"  # the watch style of an announced run


class SubscriptionPublisher:
    def __init__(
        self,
        client: AsyncWebClient,
        store: SubscriptionStore,
        responder: Responder,
        *,
        pacing_s: float,
        watcher: Watcher | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.responder = responder
        self.pacing_s = pacing_s
        self.watcher = watcher
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._last_write: dict[str, float] = {}

    def submit(self, delivery: Delivery) -> None:
        queue = self._queues.get(delivery.channel)
        if queue is None:
            queue = self._queues[delivery.channel] = asyncio.Queue()
            self._workers[delivery.channel] = asyncio.create_task(self._work(queue), name=f"announce-{delivery.channel}")
        queue.put_nowait(delivery)

    async def idle(self) -> None:
        """Returns once every submitted delivery has been handled (an orderly shutdown waits for it)."""
        await asyncio.gather(*(queue.join() for queue in list(self._queues.values())))

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._publish(delivery)
            except SlackApiError as exc:
                _log_refusal(delivery, exc)
            except Exception:
                log.exception("announcing %s in %s failed", delivery.event.run_url, delivery.channel)
            finally:
                queue.task_done()

    async def _publish(self, delivery: Delivery) -> None:
        channel, event = delivery.channel, delivery.event
        announced = self.store.announcement(channel, event.run_url)
        if announced is not None and (announced.final or delivery.stage == "start"):
            return  # already said, by the other way in or before a restart
        message = render_announcement(event, change=delivery.change)
        ts = None
        if announced is not None:
            ts = await self._update(channel, announced.ts, message)
        if ts is None:
            posted = await self._paced(channel, lambda: self.client.chat_postMessage(channel=channel, **message))
            ts = posted["ts"]
        self.store.record_announcement(channel, event.run_url, ts=ts, final=delivery.stage == "end")
        if delivery.stage == "start" and self.watcher is not None:
            # The live-status watch keeps the message current while the run goes on.
            await self.watcher.watch(event.ref, channel=channel, ts=ts, style=ANNOUNCEMENT)
        if delivery.stage == "end" and event.status == FAILED:
            await self._thread_details(delivery, ts)

    async def _update(self, channel: str, ts: str, message: dict) -> str | None:
        """The start message, now showing the end; None when it is gone (deleted), so a new one is posted."""
        try:
            await self._paced(channel, lambda: self.client.chat_update(channel=channel, ts=ts, **message))
        except SlackApiError as exc:
            if slack_error(exc) != "message_not_found":
                raise
            return None
        return ts

    async def _thread_details(self, delivery: Delivery, thread_ts: str) -> None:
        """The failed action's summary and log tail, looked up like a pasted link, under the message."""
        channel = delivery.channel
        answer = await self.responder.answer(delivery.event.ref)
        await self._paced(channel, lambda: self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, **answer.message))
        if answer.snippet:
            await self._paced(channel, lambda: post_log(self.client, answer, channel=channel, thread_ts=thread_ts))

    async def _paced(self, channel: str, write: Callable[[], Awaitable[Any]]) -> Any:
        wait = self._last_write.get(channel, float("-inf")) + self.pacing_s - time.monotonic()
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
