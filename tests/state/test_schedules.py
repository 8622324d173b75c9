"""Shared schedules on both engines: a channel's posts keep their pace whichever replica posts them,
and of replicas racing for a periodic job one gets each turn."""

from __future__ import annotations

import asyncio

from bot.state.schedules import Schedules


async def test_replicas_posting_in_one_channel_keep_its_pace(state):
    now = [1_000.0]
    replicas = [Schedules(state, owner, clock=lambda: now[0]) for owner in ("a", "b", "c")]
    waits = await asyncio.gather(*(replica.reserve_slot("pace:C1", 1.0) for replica in replicas * 3))
    assert sorted(waits) == [float(n) for n in range(9)]  # one slot each, a second apart, none shared
    assert await replicas[0].reserve_slot("pace:C2", 1.0) == 0.0  # another channel has its own pace
    now[0] += 20
    assert await replicas[1].reserve_slot("pace:C1", 1.0) == 0.0  # long quiet: no wait


async def test_of_replicas_racing_for_a_job_one_gets_each_turn(state):
    now = [1_000.0]
    replicas = [Schedules(state, owner, clock=lambda: now[0]) for owner in ("a", "b", "c")]
    for _turn in range(3):
        turns = await asyncio.gather(*(replica.my_turn("poll:x", 60) for replica in replicas))
        assert sum(turns) == 1
        assert not any(await asyncio.gather(*(replica.my_turn("poll:x", 60) for replica in replicas)))
        now[0] += 60
