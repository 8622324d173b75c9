"""Which channel gets what, per mode; the same run seen twice (push and pull, restarts) counts once."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.state.store import StateStore
from bot.subscriptions.router import Change, Router
from bot.subscriptions.store import Mode, PipelineKey, SubscriptionStore, Target
from tests.subscriptions.helpers import event

TARGET = Target("app.buddy.works", "acme", "web", 7)


@pytest.fixture
def store(state) -> SubscriptionStore:
    return SubscriptionStore(state)


async def subscribe(store: SubscriptionStore, channel: str, mode: Mode, *, target: Target = TARGET, branch: str | None = None) -> None:
    await store.subscribe(channel, target, branch=branch, mode=mode, user="U1")


async def routed(router: Router, *events) -> list[tuple[str, int, str, Change | None]]:
    out = []
    for e in events:
        out += [(d.channel, d.event.run_order, d.stage, d.change) for d in await router.route(e)]
    return out


async def test_failures_mode_announces_each_failure_and_no_success(store):
    await subscribe(store, "CF", Mode.FAILURES)
    router = Router(store)
    assert await routed(router, event(1, "FAILED"), event(2, "FAILED"), event(3, "SUCCESSFUL")) == [
        ("CF", 1, "end", None), ("CF", 2, "end", None)]


async def test_changes_mode_announces_first_failure_and_back_to_green_only(store):
    await subscribe(store, "CX", Mode.CHANGES)
    router = Router(store)
    runs = [event(1, "SUCCESSFUL"), event(2, "FAILED"), event(3, "FAILED"), event(4, "SUCCESSFUL"), event(5, "SUCCESSFUL")]
    assert await routed(router, *runs) == [("CX", 2, "end", Change.FAILING), ("CX", 4, "end", Change.FIXED)]


async def test_a_first_failure_with_no_history_is_a_change(store):
    await subscribe(store, "CX", Mode.CHANGES)
    assert await routed(Router(store), event(1, "FAILED")) == [("CX", 1, "end", Change.FAILING)]


async def test_terminated_runs_neither_count_nor_hide_back_to_green(store):
    await subscribe(store, "CX", Mode.CHANGES)
    router = Router(store)
    assert await routed(router, event(1, "FAILED"), event(2, "TERMINATED"), event(3, "SUCCESSFUL")) == [
        ("CX", 1, "end", Change.FAILING), ("CX", 3, "end", Change.FIXED)]


async def test_status_is_kept_per_branch(store):
    await subscribe(store, "CX", Mode.CHANGES)
    router = Router(store)
    runs = [event(1, "FAILED", branch="main"), event(2, "SUCCESSFUL", branch="dev"), event(3, "SUCCESSFUL", branch="main")]
    assert await routed(router, *runs) == [("CX", 1, "end", Change.FAILING), ("CX", 3, "end", Change.FIXED)]


async def test_all_mode_posts_at_start_and_finishes_once(store):
    await subscribe(store, "CA", Mode.ALL)
    router = Router(store)
    start = event(1, finished_ago=None)
    [posted] = await router.route(start)
    assert posted.stage == "start"
    await store.record_announcement("CA", start.run_url, ts="1.1", final=False)
    assert await router.route(start) == []  # the start seen again (by polling) is not posted twice
    [finish] = await router.route(event(1, "SUCCESSFUL"))
    assert finish.stage == "end"
    await store.record_announcement("CA", start.run_url, ts="1.1", final=True)
    assert await router.route(event(1, "SUCCESSFUL", source="poll")) == []


async def test_same_run_seen_again_after_announcement_is_not_routed_and_changes_stay_stable(state_settings):
    first_process = await StateStore.open(Settings(_env_file=None, **state_settings))
    store = SubscriptionStore(first_process)
    await subscribe(store, "CX", Mode.CHANGES)
    first = await Router(store).route(event(1, "FAILED"))
    assert [(d.channel, d.change) for d in first] == [("CX", Change.FAILING)]
    # Before it was posted, the same run again gets the same decision (idempotent last status).
    assert [(d.channel, d.change) for d in await Router(store).route(event(1, "FAILED", source="poll"))] == [("CX", Change.FAILING)]
    await store.record_announcement("CX", first[0].event.run_url, ts="1.1", final=True)
    await first_process.close()
    # A restart: a new store on the same database knows it was announced.
    second_process = await StateStore.open(Settings(_env_file=None, **state_settings))
    reopened = SubscriptionStore(second_process)
    assert await Router(reopened).route(event(1, "FAILED", source="poll")) == []
    assert [(d.change) for d in await Router(reopened).route(event(2, "SUCCESSFUL", source="poll"))] == [Change.FIXED]
    await second_process.close()


async def test_a_late_older_run_is_not_a_change(store):
    await subscribe(store, "CX", Mode.CHANGES)
    router = Router(store)
    await routed(router, event(1, "FAILED"), event(3, "SUCCESSFUL"))
    assert await routed(router, event(2, "FAILED")) == []


async def test_runs_finished_before_the_subscription_are_not_announced_but_still_set_the_status(store):
    await subscribe(store, "CX", Mode.CHANGES)
    await subscribe(store, "CA", Mode.ALL)
    router = Router(store)
    assert await routed(router, event(1, "FAILED", finished_ago=60)) == []
    # Still failing: no change for CX; CA sees every run.
    assert await routed(router, event(2, "FAILED")) == [("CA", 2, "end", None)]
    assert await routed(router, event(3, "SUCCESSFUL")) == [("CX", 3, "end", Change.FIXED), ("CA", 3, "end", None)]


async def test_branch_filter_and_project_subscriptions(store):
    await subscribe(store, "CB", Mode.FAILURES, branch="main")
    await subscribe(store, "CP", Mode.FAILURES, target=Target("app.buddy.works", "acme", "web"))
    router = Router(store)
    other_pipeline = PipelineKey("app.buddy.works", "acme", "web", 9)
    assert await routed(router, event(1, "FAILED", branch="dev")) == [("CP", 1, "end", None)]
    assert await routed(router, event(2, "FAILED", branch="main")) == [("CB", 2, "end", None), ("CP", 2, "end", None)]
    assert await routed(router, event(1, "FAILED", pipeline=other_pipeline)) == [("CP", 1, "end", None)]
    assert await routed(router, event(1, "FAILED", pipeline=PipelineKey("app.buddy.works", "acme", "api", 7))) == []


async def test_one_delivery_per_channel_even_with_overlapping_subscriptions(store):
    await subscribe(store, "C1", Mode.FAILURES)
    await subscribe(store, "C1", Mode.CHANGES, branch="main")
    await subscribe(store, "C1", Mode.ALL, target=Target("app.buddy.works", "acme", "web"))
    assert await routed(Router(store), event(1, "FAILED")) == [("C1", 1, "end", Change.FAILING)]


async def test_unsubscribe_stops_routing(store):
    await subscribe(store, "CF", Mode.FAILURES)
    router = Router(store)
    assert await routed(router, event(1, "FAILED"))
    assert [s.channel for s in await store.unsubscribe("CF", TARGET, branch=None)] == ["CF"]
    assert await routed(router, event(2, "FAILED")) == []


async def test_subscribing_again_changes_the_mode_and_keeps_one_subscription(store):
    first, before = await store.subscribe("C1", TARGET, branch=None, mode=Mode.FAILURES, user="U1")
    again, before_again = await store.subscribe("C1", Target("app.buddy.works", "ACME", "Web", 7), branch=None, mode=Mode.ALL, user="U2")
    assert before is None and before_again is Mode.FAILURES
    assert again.id == first.id and again.mode is Mode.ALL and again.created_at == first.created_at
    assert len(await store.for_channel("C1")) == 1
    assert [followed.target for followed in await store.followed()] == [TARGET]


async def test_remove_only_from_its_own_channel(store):
    subscription, _ = await store.subscribe("C1", TARGET, branch=None, mode=Mode.FAILURES, user="U1")
    assert await store.remove("C2", subscription.id) is None
    assert await store.remove("C1", subscription.id) == subscription
    assert await store.for_channel("C1") == []
