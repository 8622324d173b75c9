"""The watcher core against the fake Buddy: polls counted per interval on a test clock, backoff,
the end of a run, the time limit, errors, and watches that outlive the watcher (a restart)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef, RefKind
from bot.config import Settings
from bot.lookup import Lookup
from bot.report import RunReport
from bot.state.store import StateStore
from bot.watch import Watch, Watcher, WatchGone
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy, FakeExecution

BASE = 1.0  # WATCH_POLL_SECONDS in these tests
CAP = 4.0  # WATCH_BACKOFF_MAX_SECONDS
LIMIT = 100.0  # WATCH_MAX_SECONDS


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A publisher that writes down what it was asked to publish; ``gone`` makes it say the message is gone."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str | None]] = []
        self.gone = False

    async def update(self, watch: Watch, report: RunReport) -> None:
        self._check()
        self.events.append(("update", _status(report), None))

    async def finish(self, watch: Watch, report: RunReport) -> None:
        self._check()
        self.events.append(("finish", _status(report), None))

    async def stop(self, watch: Watch, reason: str, report: RunReport | None) -> None:
        self.events.append(("stop", _status(report) if report else None, reason))

    def _check(self) -> None:
        if self.gone:
            raise WatchGone("message_not_found")


def _status(report: RunReport) -> str | None:
    return report.action.status if report.action is not None else None


@pytest.fixture
def watch_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"watch_poll_seconds": BASE, "watch_backoff_max_seconds": CAP,
                                       "watch_max_seconds": LIMIT})


@pytest.fixture
async def parts(watch_settings: Settings, state: StateStore):
    async with BuddyClient(watch_settings) as client:
        lookup = Lookup(client, watch_settings)
        clock, publisher = Clock(), Recorder()
        watcher = Watcher(state, lookup, publisher, watch_settings, clock=clock)
        yield watcher, lookup, clock, publisher


def queued_run(fake_buddy: FakeBuddy, **kw) -> tuple[FakeExecution, BuddyRef]:
    action = FakeAction(status="ENQUEUED", start=None, finish=None, log=[])
    run = fake_buddy.add_execution(actions=[action], status="ENQUEUED", finish=None, **kw)
    return run, BuddyRef("app.buddy.works", "acme", "web", 7, str(run.id), action.ae_id)


async def watched(watcher: Watcher, lookup: Lookup, ref: BuddyRef, ts: str = "1.1") -> RunReport:
    shown = await lookup.report(ref)
    await watcher.watch(ref, channel="C1", ts=ts, shown=shown)
    return shown


async def test_a_run_is_followed_from_queued_to_failed(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    assert await watcher.poll_due() == 0  # not due before WATCH_POLL_SECONDS
    clock.advance(BASE)
    assert await watcher.poll_due() == 1
    assert publisher.events == []  # the message already shows ENQUEUED
    fake_buddy.change(run, status="INPROGRESS", start=BASE_TIME)
    clock.advance(CAP)
    await watcher.poll_due()
    clock.advance(CAP)
    await watcher.poll_due()  # nothing new: no second update
    assert publisher.events == [("update", "INPROGRESS", None)]
    fake_buddy.change(run, status="FAILED", finish=BASE_TIME + timedelta(seconds=30), log=["boom"])
    clock.advance(CAP)
    await watcher.poll_due()
    assert publisher.events[1:] == [("finish", "FAILED", None)]
    assert (await watcher.watches()) == []


async def test_many_watches_cost_one_poll_each_per_interval(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    refs = [queued_run(fake_buddy)[1] for _ in range(30)]
    for n, ref in enumerate(refs):
        await watched(watcher, lookup, ref, ts=f"1.{n}")
    fake_buddy.reset_calls()
    clock.advance(BASE)
    assert await watcher.poll_due() == 30
    # One lookup each: the action's details and its execution.
    assert len(fake_buddy.calls("/action_executions/")) == 30
    assert len(fake_buddy.calls()) == 60
    assert await watcher.poll_due() == 0
    assert len(fake_buddy.calls()) == 60
    assert publisher.events == []


async def test_waits_grow_while_nothing_changes_and_shrink_on_a_change(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    intervals = []
    for _ in range(5):
        clock.advance(CAP)
        await watcher.poll_due()
        intervals.append((await watcher.watches())[0].interval_s)
    assert intervals == [1.5, 2.25, 3.375, CAP, CAP]
    fake_buddy.change(run, status="INPROGRESS")
    clock.advance(CAP)
    await watcher.poll_due()
    assert (await watcher.watches())[0].interval_s == BASE


async def test_gives_up_after_watch_max_seconds_with_a_last_update(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    clock.advance(LIMIT)
    await watcher.poll_due()
    [(kind, status, reason)] = publisher.events
    assert (kind, status) == ("stop", "ENQUEUED")
    assert "stopped following this run after 100 seconds" in reason and "Refresh" in reason
    assert (await watcher.watches()) == []


async def test_a_run_that_disappears_ends_the_watch_with_the_reason(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    fake_buddy.fault("/action_executions/", status=404, body={"errors": [{"message": "Action execution not found"}]})
    clock.advance(BASE)
    await watcher.poll_due()
    [(kind, status, reason)] = publisher.events
    assert (kind, status) == ("stop", None)
    assert "stopped following" in reason and "Action execution not found" in reason
    assert (await watcher.watches()) == []


async def test_buddy_being_down_for_a_while_only_delays_the_next_poll(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    fake_buddy.fault("/action_executions/", status=503, times=4)  # the client's 3 retries, then a poll's worth
    clock.advance(BASE)
    await watcher.poll_due()
    assert publisher.events == [] and (await watcher.watches())[0].interval_s == 1.5
    fake_buddy.change(run, status="INPROGRESS")
    clock.advance(CAP)
    await watcher.poll_due()
    assert publisher.events == [("update", "INPROGRESS", None)]


async def test_a_deleted_message_ends_its_watch_silently(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    publisher.gone = True
    fake_buddy.change(run, status="INPROGRESS")
    clock.advance(BASE)
    await watcher.poll_due()
    assert publisher.events == [] and (await watcher.watches()) == []


async def test_a_pipeline_link_is_pinned_to_the_run_it_showed(parts, fake_buddy: FakeBuddy):
    watcher, lookup, clock, publisher = parts
    run, _ = queued_run(fake_buddy)
    pipeline = BuddyRef("app.buddy.works", "acme", "web", 7)
    await watched(watcher, lookup, pipeline)
    [watch] = (await watcher.watches())
    assert watch.ref.kind is RefKind.EXECUTION and watch.ref.execution_id == run.web_id
    newer = fake_buddy.add_execution(actions=[FakeAction(status="SUCCESSFUL")])  # a newer run, already done
    clock.advance(BASE)
    await watcher.poll_due()
    assert publisher.events == []  # still following the first run, which has not moved
    assert newer.id == run.id + 1 and (await watcher.watches())[0].ref == watch.ref


async def test_a_workspace_no_longer_allowed_is_not_polled(parts, fake_buddy: FakeBuddy, watch_settings):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    lookup.settings = watch_settings.model_copy(update={"buddy_workspaces": ("other",)})
    fake_buddy.reset_calls()
    clock.advance(BASE)
    await watcher.poll_due()
    assert not fake_buddy.calls() and (await watcher.watches()) == []


async def test_watches_outlive_the_watcher(parts, fake_buddy: FakeBuddy, watch_settings, state_settings):
    watcher, lookup, clock, publisher = parts
    run, ref = queued_run(fake_buddy)
    await watched(watcher, lookup, ref)
    # A new process on the same state store.
    store = await StateStore.open(watch_settings.model_copy(update=state_settings))
    again = Watcher(store, lookup, publisher, watch_settings, clock=clock)
    [watch] = (await again.watches())
    assert (watch.ref, watch.channel, watch.ts) == (ref, "C1", "1.1")
    fake_buddy.change(run, status="FAILED", finish=BASE_TIME)
    clock.advance(BASE)
    await again.poll_due()
    assert publisher.events == [("finish", "FAILED", None)]
    await store.close()


async def test_the_loop_wakes_for_a_new_watch_and_stops(settings: Settings, fake_buddy: FakeBuddy, state: StateStore):
    fast = settings.model_copy(update={"watch_poll_seconds": 0.05, "watch_backoff_max_seconds": 0.1})
    store, publisher = state, Recorder()
    async with BuddyClient(fast) as client:
        lookup = Lookup(client, fast)
        watcher = Watcher(store, lookup, publisher, fast)
        task = watcher.start()
        run, ref = queued_run(fake_buddy)
        await watched(watcher, lookup, ref)
        fake_buddy.change(run, status="SUCCESSFUL", start=BASE_TIME, finish=BASE_TIME)
        async with asyncio.timeout(10):
            while not publisher.events:
                await asyncio.sleep(0.01)
        assert publisher.events == [("finish", "SUCCESSFUL", None)]
        await watcher.stop()
        assert task.cancelled()
