"""Polling: one executions request per followed pipeline per round, whatever the number of channels;
a project stands for its pipelines; unchanged runs are not handed on twice; one failing pipeline
does not hold up the others."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from bot.buddy.client import BuddyClient
from bot.subscriptions.poller import Poller
from bot.subscriptions.store import Mode, SubscriptionStore, Target

NOW = datetime.now(timezone.utc)


async def test_one_request_per_pipeline_per_round_and_only_news_handed_on(settings, fake_buddy, state):
    store = SubscriptionStore(state)
    for channel in ("C1", "C2", "C3"):
        await store.subscribe(channel, Target("app.buddy.works", "acme", "web", 7), branch=None, mode=Mode.ALL, user="U1")
    await store.subscribe("C4", Target("app.buddy.works", "acme", "web"), branch=None, mode=Mode.FAILURES, user="U1")
    first = fake_buddy.add_execution(pipeline_id=7, status="INPROGRESS", start=NOW, finish=None)
    fake_buddy.add_execution(pipeline_id=8, status="FAILED", start=NOW, finish=NOW)
    seen = []

    async def handed(event):
        seen.append((event.pipeline.pipeline_id, event.run_order, event.status))

    async with BuddyClient(settings) as client:
        poller = Poller(client, store, handed, interval=60)
        await poller.poll_once()
        assert sorted(seen) == [(7, 1, "INPROGRESS"), (8, 1, "FAILED")]
        assert sorted(c.path for c in fake_buddy.calls()) == [
            "/workspaces/acme/projects/web/pipelines",
            "/workspaces/acme/projects/web/pipelines/7/executions",
            "/workspaces/acme/projects/web/pipelines/8/executions",
        ]
        fake_buddy.reset_calls()
        seen.clear()
        await poller.poll_once()
        assert seen == []  # nothing changed
        assert len(fake_buddy.calls("/executions")) == 2
        first.status, first.finish = "SUCCESSFUL", NOW
        fake_buddy.fault("/pipelines/8/executions", status=500)
        await poller.poll_once()
        assert seen == [(7, 1, "SUCCESSFUL")]


async def test_replicas_poll_each_pipeline_once_per_interval_in_all(settings, fake_buddy, state):
    from bot.state.schedules import Schedules

    store = SubscriptionStore(state)
    await store.subscribe("C1", Target("app.buddy.works", "acme", "web", 7), branch=None, mode=Mode.ALL, user="U1")
    await store.subscribe("C2", Target("app.buddy.works", "acme", "web"), branch=None, mode=Mode.FAILURES, user="U1")
    fake_buddy.add_execution(pipeline_id=7, status="INPROGRESS", start=NOW, finish=None)
    fake_buddy.add_execution(pipeline_id=8, status="FAILED", start=NOW, finish=NOW)
    clock = [1_000_000.0]

    async def handed(event):
        pass

    async with BuddyClient(settings) as client:
        replicas = [
            Poller(client, store, handed, interval=60, schedules=Schedules(state, owner, clock=lambda: clock[0]))
            for owner in ("a", "b", "c")
        ]
        for _round in range(3):
            fake_buddy.reset_calls()
            await asyncio.gather(*(replica.poll_once() for replica in replicas))
            assert sorted(c.path for c in fake_buddy.calls()) == [
                "/workspaces/acme/projects/web/pipelines",
                "/workspaces/acme/projects/web/pipelines/7/executions",
                "/workspaces/acme/projects/web/pipelines/8/executions",
            ]
            fake_buddy.reset_calls()
            await asyncio.gather(*(replica.poll_once() for replica in replicas))
            assert fake_buddy.calls() == []  # not due again within the interval, on any replica
            clock[0] += 60
