"""What a run means for each channel that follows its pipeline: post at start, post (or update) at
the end, or nothing.

Pure decisions over the store; posting is someone else's job. The same event routed twice gives the
same answer (the last final status is recorded idempotently), and a run already announced in a
channel is not handed out again, so push and pull may both report every run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from bot.subscriptions.events import RunEvent
from bot.subscriptions.store import Mode, Subscription, SubscriptionStore

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


class Router:
    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store

    def route(self, event: RunEvent) -> list[Delivery]:
        """At most one delivery per channel, in the order the channels subscribed."""
        followers = self.store.matching(event.pipeline)
        if not followers:
            return []
        change = self._change(event)
        chosen: dict[str, Delivery] = {}
        for subscription in followers:
            stage = _stage(subscription, event, change)
            if stage is None:
                continue
            known = chosen.get(subscription.channel)
            mine = change if subscription.mode is Mode.CHANGES else None
            chosen[subscription.channel] = Delivery(subscription.channel, event, stage, mine or (known.change if known else None))
        return [d for d in chosen.values() if self._not_yet_announced(d)]

    def _change(self, event: RunEvent) -> Change | None:
        """Records a passed or failed run as its pipeline+branch's last final status, and says whether
        that status flipped. Terminated, skipped and unknown outcomes neither count nor reset it."""
        if not event.finished or event.status not in (PASSED, FAILED):
            return None
        final = self.store.record_final(
            event.pipeline, event.branch, run_url=event.run_url, run_order=event.run_order, status=event.status
        )
        if not final.latest:
            return None
        if event.status == FAILED and final.previous != FAILED:
            return Change.FAILING
        if event.status == PASSED and final.previous == FAILED:
            return Change.FIXED
        return None

    def _not_yet_announced(self, delivery: Delivery) -> bool:
        announced = self.store.announcement(delivery.channel, delivery.event.run_url)
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
