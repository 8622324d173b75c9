"""What a run means for each channel that follows its pipeline: post at start, post (or update) at
the end, or nothing.

Pure decisions over the store; posting is someone else's job. Every run of a followed pipeline also
feeds the history of action outcomes that flaky actions are told from (``bot.why.flaky``). The same event routed twice gives the
same answer (the last final status is recorded idempotently), and a run already announced in a
channel is not handed out again, so push and pull may both report every run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from bot.buddy.models import Execution
from bot.home.records import WaitingRuns
from bot.subscriptions.events import RunEvent
from bot.subscriptions.store import Mode, PipelineKey, Subscription, SubscriptionStore
from bot.why.flaky import OutcomeHistory

Stage = Literal["start", "end"]
PASSED, FAILED = "SUCCESSFUL", "FAILED"


class Change(enum.StrEnum):
    FAILING = "failing"  # passing (or never seen) → failing: a first failure counts
    FIXED = "fixed"  # failing → passing: back to green


@dataclass(frozen=True)
class Delivery:
    """One message to post (``start``) or to post or update (``end``) in one channel."""

    channel: str
    event: RunEvent
    stage: Stage
    change: Change | None = None
    # The pipeline+branch went from passing (or never seen) to failing with this run, whatever the
    # channel's mode: the streak rule of telling the commit's author (NOTIFY_AUTHORS).
    first_failure: bool = False
    team: str | None = None  # the Slack installation whose bot token posts it (the subscription's)
    subscriber: str | None = None  # the Slack user who subscribed the channel (READ_AS_ASKER reads as them)

    @property
    def key(self) -> str:
        """What makes two deliveries the same (push and pull, two replicas): the unit of work's key."""
        return f"announce:{self.channel}:{self.event.run_url}:{self.stage}"

    def to_payload(self) -> dict[str, Any]:
        """Everything needed to post it again after a crash, as JSON."""
        event = self.event
        return {
            "channel": self.channel,
            "stage": self.stage,
            "change": self.change.value if self.change else None,
            "first_failure": self.first_failure,
            "team": self.team,
            "subscriber": self.subscriber,
            "pipeline": [event.pipeline.host, event.pipeline.workspace, event.pipeline.project, event.pipeline.pipeline_id],
            "run_url": event.run_url,
            "source": event.source,
            "execution": event.execution.model_dump(mode="json"),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Delivery:
        host, workspace, project, pipeline_id = payload["pipeline"]
        event = RunEvent(
            PipelineKey(host, workspace, project, int(pipeline_id)),
            payload["run_url"],
            Execution.model_validate(payload["execution"]),
            payload["source"],
        )
        change = Change(payload["change"]) if payload.get("change") else None
        return cls(
            payload["channel"],
            event,
            payload["stage"],
            change,
            bool(payload.get("first_failure")),
            payload.get("team"),
            payload.get("subscriber"),
        )


class Router:
    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store
        self.history = OutcomeHistory(store.state)

    async def route(self, event: RunEvent) -> list[Delivery]:
        """At most one delivery per channel, in the order the channels subscribed."""
        followers = await self.store.matching(event.pipeline)
        if not followers:
            return []
        await WaitingRuns.of(self.store.state).seen_event([s.team for s in followers], event)  # the Home tab's
        await self.history.record(event.pipeline, event.execution)
        change = await self._change(event)
        chosen: dict[str, Delivery] = {}
        for subscription in followers:
            stage = _stage(subscription, event, change)
            if stage is None:
                continue
            known = chosen.get(subscription.channel)
            mine = change if subscription.mode is Mode.CHANGES else None
            chosen[subscription.channel] = Delivery(
                subscription.channel,
                event,
                stage,
                mine or (known.change if known else None),
                change is Change.FAILING,
                subscription.team,
                subscription.created_by,
            )
        return [d for d in chosen.values() if await self._not_yet_announced(d)]

    async def _change(self, event: RunEvent) -> Change | None:
        """Records a passed or failed run as its pipeline+branch's last final status, and says whether
        that status flipped. Terminated, skipped and unknown outcomes neither count nor reset it."""
        if not event.finished or event.status not in (PASSED, FAILED):
            return None
        final = await self.store.record_final(
            event.pipeline, event.branch, run_url=event.run_url, run_order=event.run_order, status=event.status
        )
        if not final.latest:
            return None
        if event.status == FAILED and final.previous != FAILED:
            return Change.FAILING
        if event.status == PASSED and final.previous == FAILED:
            return Change.FIXED
        return None

    async def _not_yet_announced(self, delivery: Delivery) -> bool:
        announced = await self.store.announcement(delivery.channel, delivery.event.run_url)
        return announced is None or (delivery.stage == "end" and not announced.final)


def _stage(subscription: Subscription, event: RunEvent, change: Change | None) -> Stage | None:
    if subscription.branch is not None and subscription.branch != event.branch:
        return None
    if event.finished and _finished_before(event, subscription):
        return None
    if subscription.mode is Mode.ALL:
        return "end" if event.finished else "start"
    if not event.finished:
        return None
    if subscription.mode is Mode.FAILURES:
        return "end" if event.status == FAILED else None
    return "end" if change is not None else None


def _finished_before(event: RunEvent, subscription: Subscription) -> bool:
    finished_at = event.finished_at
    return finished_at is not None and finished_at.timestamp() < subscription.created_at
