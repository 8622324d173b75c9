"""The work queue on both engines: a redelivery is not accepted twice, effects are done once, a
lapsed lease is taken over by exactly one worker, which repeats no recorded effect and asks about
the one in flight, and a handed-back lease is taken at once."""

from __future__ import annotations

import asyncio

from bot.work.queue import Unit, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_accepted_once(state):
    queue = WorkQueue(state, owner="a")
    first = await queue.accept("command", "command:trigger-1", {"text": "hi"})
    assert first is not None and not first.taken_over
    assert await queue.accept("command", "command:trigger-1", {"text": "hi"}) is None
    assert await WorkQueue(state, owner="b").accept("command", "command:trigger-1", {}) is None  # another replica
    assert await queue.accept("command", "command:trigger-2", {}) is not None


async def test_a_taken_over_unit_repeats_no_recorded_effect_and_asks_about_the_one_in_flight(state):
    clock = Clock()
    dead = WorkQueue(state, owner="dead", lease_s=1, clock=clock)
    unit = await dead.accept("command", "command:t", {"channel": "C1"})
    assert unit is not None
    done: list[str] = []

    async def post(name: str) -> dict:
        done.append(name)
        return {"ts": f"ts-{name}"}

    assert await dead.effect(unit, "summary", lambda: post("summary")) == {"ts": "ts-summary"}
    # The worker dies here, with the snippet in flight: nothing recorded of it.
    clock.now += 2
    asked: list[str] = []
    finished = asyncio.Event()

    async def handler(again: Unit) -> None:
        assert again.taken_over and again.payload == {"channel": "C1"} and again.id == unit.id
        summary = await survivor.effect(again, "summary", lambda: post("summary-again"))
        assert summary == {"ts": "ts-summary"}

        async def find() -> dict | None:
            asked.append("snippet")
            return None

        await survivor.effect(again, "snippet", lambda: post("snippet"), find=find)
        finished.set()

    survivor = WorkQueue(state, owner="survivor", lease_s=1, clock=clock)
    survivor.register("command", handler)
    assert await survivor.take_over() == 1
    await asyncio.wait_for(finished.wait(), 5)
    await asyncio.sleep(0)
    assert done == ["summary", "snippet"] and asked == ["snippet"]
    assert await survivor.take_over() == 0  # done: nothing left to take


async def test_an_effect_found_to_have_landed_is_recorded_not_repeated(state):
    clock = Clock()
    dead = WorkQueue(state, owner="dead", lease_s=1, clock=clock)
    unit = await dead.accept("command", "command:t", {})
    clock.now += 2
    survivor = WorkQueue(state, owner="survivor", lease_s=1, clock=clock)
    results: list[dict] = []

    async def handler(again: Unit) -> None:
        async def never() -> dict:
            raise AssertionError("the post landed before the crash; it must not be sent again")

        async def found() -> dict:
            return {"ts": "landed"}

        results.append(await survivor.effect(again, "summary", never, find=found))

    survivor.register("command", handler)
    await survivor.take_over()
    await asyncio.wait_for(_until(lambda: results), 5)
    assert results == [{"ts": "landed"}] and unit is not None


async def test_two_workers_racing_for_lapsed_units_take_each_once(state):
    clock = Clock()
    dead = WorkQueue(state, owner="dead", lease_s=1, clock=clock)
    for n in range(20):
        await dead.accept("watch", f"k{n}", {"n": n})
    clock.now += 2
    ran: list[tuple[str, int]] = []
    workers = [WorkQueue(state, owner=name, lease_s=1, clock=clock) for name in ("a", "b", "c")]
    for worker in workers:
        worker.register("watch", lambda unit, w=worker: _ran(ran, w.owner, unit))
    counts = await asyncio.gather(*(worker.take_over() for worker in workers))
    await asyncio.wait_for(_until(lambda: len(ran) >= 20), 5)
    await asyncio.sleep(0.05)
    assert sum(counts) == 20 and sorted(n for _, n in ran) == list(range(20))


async def test_a_handed_back_lease_is_taken_at_once(state):
    clock = Clock()
    leaving = WorkQueue(state, owner="leaving", lease_s=30, clock=clock)
    unit = await leaving.accept("command", "k", {})
    assert unit is not None
    blocked = asyncio.Event()

    async def slow(_unit: Unit) -> None:
        await blocked.wait()

    leaving.register("command", slow)
    leaving.start(unit)
    other = WorkQueue(state, owner="other", lease_s=30, clock=clock)
    assert await other.take_over() == 0  # still leased
    await leaving.drain(grace_s=0.05)
    taken: list[str] = []
    other.register("command", lambda u: _append(taken, u.id))
    assert await other.take_over() == 1
    await asyncio.wait_for(_until(lambda: taken), 5)
    assert taken == [unit.id]


async def test_a_worker_held_up_past_its_lease_leaves_the_unit_to_the_one_that_took_it_over(state):
    clock = Clock()
    slow = WorkQueue(state, owner="slow", lease_s=10, clock=clock)
    unit = await slow.accept("command", "k", {})
    assert unit is not None
    posts: list[str] = []
    clock.now += 4  # six seconds of the lease left: more than half, so no write to find that out
    await slow.effect(unit, "summary", lambda: _append_posted(posts, "summary by slow"))
    clock.now += 3  # three left: the lease is renewed first
    await slow.effect(unit, "thread", lambda: _append_posted(posts, "thread by slow"))
    assert unit.lease_until == clock.now + 10
    clock.now += 11  # held up past the lease (a starved machine): another replica takes the unit over
    other = WorkQueue(state, owner="other", lease_s=10, clock=clock)
    go_on = asyncio.Event()

    async def finish(again: Unit) -> None:
        await go_on.wait()
        assert set(again.effects) == {"summary", "thread"}
        await other.effect(again, "snippet", lambda: _append_posted(posts, "snippet by other"))

    other.register("command", finish)
    assert await other.take_over() == 1
    slow.register("command", lambda u: slow.effect(u, "snippet", lambda: _append_posted(posts, "snippet by slow")))
    await slow.run(unit)  # it goes on where it was: its next effect finds the unit gone, and it stops
    assert posts == ["summary by slow", "thread by slow"]
    assert await _unit_row(state) == ("other", "running")  # not marked done by the slow worker
    go_on.set()
    await asyncio.wait_for(_until(lambda: len(posts) == 3), 5)
    assert posts[-1] == "snippet by other"


async def test_a_unit_run_by_its_listener_keeps_its_lease_while_it_works(state):
    working = WorkQueue(state, owner="working", lease_s=0.3)
    unit = await working.accept("command", "k", {})
    assert unit is not None
    go_on = asyncio.Event()
    working.register("command", lambda _u: go_on.wait())
    upkeep = asyncio.create_task(working.maintain(interval=0.05))
    run = asyncio.create_task(working.run(unit))  # as the listener runs it: not through start()
    other = WorkQueue(state, owner="other", lease_s=0.3)
    other.register("command", lambda _u: asyncio.sleep(0))
    try:
        for _ in range(10):  # three leases' worth and more
            await asyncio.sleep(0.1)
            assert await other.take_over() == 0
        go_on.set()
        await asyncio.wait_for(run, 5)
        assert await _unit_row(state) == (None, "done")
    finally:
        upkeep.cancel()
        await asyncio.gather(upkeep, return_exceptions=True)


async def _unit_row(state) -> tuple:
    from sqlalchemy import select

    from bot.state.tables import work_units

    async with state.begin() as db:
        return tuple((await db.execute(select(work_units.c.owner, work_units.c.status))).one())


async def _append_posted(posts: list[str], what: str) -> dict:
    posts.append(what)
    return {"ts": str(len(posts))}


async def _ran(ran: list, owner: str, unit: Unit) -> None:
    ran.append((owner, unit.payload["n"]))


async def _append(items: list, value: object) -> None:
    items.append(value)


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_done_units_older_than_a_day_are_pruned_with_their_effects(state):
    from sqlalchemy import func, select

    from bot.state.tables import work_effects, work_units
    from bot.work.queue import DONE_KEPT_S

    clock = Clock()
    queue = WorkQueue(state, owner="a", clock=clock)
    queue.register("command", lambda unit: queue.effect(unit, "post", _posted))
    old = await queue.accept("command", "old", {})
    assert old is not None
    await queue.run(old)
    clock.now += DONE_KEPT_S + 1
    recent = await queue.accept("command", "recent", {})
    assert recent is not None
    await queue.run(recent)
    await queue.prune()
    async with state.begin() as db:
        keys = (await db.execute(select(work_units.c.dedupe_key))).scalars().all()
        effects = (await db.execute(select(func.count()).select_from(work_effects))).scalar()
    assert keys == ["recent"] and effects == 1


async def _posted() -> dict:
    return {"ts": "1.1"}


async def test_draining_waits_for_the_units_not_for_a_task_that_runs_them_in_turn(state):
    queue = WorkQueue(state, owner="a", lease_s=30)
    queue.register("announce", lambda _u: asyncio.sleep(0.05))
    unit = await queue.accept("announce", "k", {})
    assert unit is not None
    inbox: asyncio.Queue = asyncio.Queue()

    async def channel_worker() -> None:  # as a channel's announcements run: one task, units in turn, forever
        while True:
            await queue.run(await inbox.get())

    worker = asyncio.create_task(channel_worker())
    await inbox.put(unit)
    await asyncio.sleep(0.01)
    await asyncio.wait_for(queue.drain(grace_s=30), 5)  # returns once the unit is done, long before the grace
    assert await _unit_row(state) == (None, "done")
    assert not worker.done()  # a finished unit's task is left alone
    worker.cancel()
