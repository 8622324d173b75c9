"""Ten thousand followed runs: one background loop polls each watch once per interval, with exactly
the calls one lookup makes, none more and none missed; and what that costs the bot in CPU and memory.

The watches are written into the state store directly (as ``/buddy follow`` leaves them), for runs
in the fake Buddy that stay in progress and never change, so no poll edits a message: Slack's
``chat.update`` is counted apart, and must stay at 0. Backoff is off (``WATCH_BACKOFF_MAX_SECONDS`` =
``WATCH_POLL_SECONDS``), so each watch is due once per interval; their first polls are due spread
evenly over one interval, as a long-running set of watches ends up. A poll is one lookup: the
action's details (with its log) and the execution, two calls.

Each call names its run, so it is counted for its watch: the k-th interval of a watch is the
interval's length centred on its k-th due time (its first due time + k intervals), so a poll a little
late still counts for the interval it was due in, and one in the wrong interval (twice in one, none
in another, or more than half an interval late) shows as such. The lag is how long after its due
time each poll came, the due time being the previous poll + the interval (the first: as seeded).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert

from bench.cpu import BOT, CpuMeter, Usage
from bench.fakes import HOST, PROJECT, WORKSPACE, BuddyProcess
from bench.memory import peak_bytes, resident_bytes
from bench.report import percentile, seconds, table
from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.lookup import Lookup
from bot.state.store import StateStore
from bot.state.tables import watches
from bot.watch import run_state
from tests.fakes.buddy import TOKEN

if TYPE_CHECKING:
    from bench.run import Bench

CALLS_PER_POLL = 2  # the action's details (its log inside) and the execution, at once
RUNS_PER_PIPELINE = 100  # the fake finds an execution by going through its pipeline's runs
START_MARGIN_S = 5.0  # time for the bot to start before the first watch is due, and per 10,000 watches it reads
LOG_LINES = 20
LATE_SHARE = 0.1  # polls later than this share of the interval: the bot did not keep up


@dataclass
class Interval:
    due: int
    polls: int  # details calls counted for a watch's interval
    polled_once: int  # watches polled exactly once in it
    executions: int
    other_calls: int  # anything else the lookups asked (logs, members): none expected
    lags: list[float]

    @property
    def calls(self) -> int:
        return self.polls + self.executions + self.other_calls


@dataclass
class Followed:
    runs: int
    interval_s: float
    latency: float
    intervals: list[Interval]
    cpu: Usage
    resident: int
    peak: int
    slack_calls: dict[str, int]
    stored: int  # watches in the store at the end
    stored_at_interval: int  # of them, still polled every interval (no backoff)


def measure_followed(bench: Bench, runs: int, interval_s: float, intervals: int, latency: float) -> Followed:
    buddy = bench.buddy
    followed: list[tuple[int, int, str]] = []
    while len(followed) < runs:
        followed += buddy.add_running(min(RUNS_PER_PIPELINE, runs - len(followed)), next(bench._pipelines), LOG_LINES)
    path = bench.workdir / "followed.db"
    margin = START_MARGIN_S * (1 + runs / 10_000)
    first_due = time.time() + margin
    dues = [first_due + interval_s * index / runs for index in range(runs)]
    asyncio.run(_seed(path, buddy, followed, dues, interval_s))
    buddy.set(latency=latency)
    env = {"STATE_DB": str(path), "WATCH_POLL_SECONDS": str(interval_s), "WATCH_BACKOFF_MAX_SECONDS": str(interval_s)}
    bot = bench.process(env=env)
    bench.slack.reset()
    try:
        bot.start()
        if time.time() > first_due:
            raise RuntimeError(f"the bot took longer than {margin:g} s to start; the first watches were due already")
        pid = bot.proc.pid  # type: ignore[union-attr]
        meter = bench.meter([bot])
        buddy.reset_calls()
        time.sleep(max(0.0, first_due - time.time()))
        before = meter.snapshot()
        # The last watch's last interval ends half an interval after its last due time.
        time.sleep(max(0.0, dues[-1] + (intervals - 0.5) * interval_s - time.time()))
        cpu = CpuMeter.between(before, meter.snapshot())
        calls = buddy.take_calls()
        resident, peak = resident_bytes(pid), peak_bytes(pid)
    finally:
        bot.stop()
        buddy.set(latency=bench.args.latency)
    stored, at_interval = _stored(path, interval_s)
    to_monotonic = time.monotonic() - time.time()
    counted = _count(calls, followed, [due + to_monotonic for due in dues], interval_s, intervals)
    return Followed(runs, interval_s, latency, counted, cpu, resident, peak, bench.slack.method_counts(), stored, at_interval)


async def _seed(
    path: Path, buddy: BuddyProcess, followed: list[tuple[int, int, str]], dues: list[float], interval_s: float
) -> None:
    """The watches, as the bot writes them; their last state is what a poll of these unchanging runs
    finds, read once through the bot's own lookup."""
    settings = Settings(_env_file=None, state_db=path, buddy_token=TOKEN, buddy_api_url=buddy.url)
    pipeline_id, execution_id, action_execution_id = followed[0]
    async with BuddyClient(settings) as client:
        report = await Lookup(client, settings).report(
            BuddyRef(HOST, WORKSPACE, PROJECT, pipeline_id, str(execution_id), action_execution_id), fresh=True
        )
    unchanged = run_state(report)
    store = await StateStore.open(settings)
    now = time.time()
    rows = [
        dict(
            channel=f"CW{index:05d}",
            ts=f"{1_700_000_000 + index}.000100",
            thread_ts=None,
            host=HOST,
            workspace=WORKSPACE,
            project=PROJECT,
            pipeline_id=pipeline,
            execution_id=str(execution),
            action_execution_id=action,
            requested_by="UFOLLOW",
            style="summary",
            started_at=now,
            next_poll_at=due,
            interval_s=interval_s,
            last_state=unchanged,
        )
        for index, ((pipeline, execution, action), due) in enumerate(zip(followed, dues))
    ]
    try:
        async with store.begin() as db:
            await db.execute(insert(watches), rows)
    finally:
        await store.close()


def _stored(path: Path, interval_s: float) -> tuple[int, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT count(*), sum(interval_s = ?) FROM watches", (interval_s,)).fetchone()


def _count(
    calls: list[tuple[str, float]], followed: list[tuple[int, int, str]], dues: list[float], interval_s: float, intervals: int
) -> list[Interval]:
    """Each call counted for its watch's interval (``dues`` on the calls' clock)."""
    watch_of = {(pipeline, execution): index for index, (pipeline, execution, _) in enumerate(followed)}
    polls: list[list[list[float]]] = [[[] for _ in range(intervals)] for _ in followed]  # watch → interval → times
    counted = [Interval(len(followed), 0, 0, 0, 0, []) for _ in range(intervals)]
    for path, at in calls:
        parts = path.strip("/").split("/")  # workspaces/…/pipelines/<id>/executions/<id>[/action_executions/<id>[/logs]]
        index = watch_of.get((int(parts[5]), int(parts[7]))) if len(parts) >= 8 and parts[6] == "executions" else None
        if index is None:
            continue  # not one of the followed runs
        k = math.floor((at - dues[index]) / interval_s + 0.5)
        if not 0 <= k < intervals:
            continue  # after the last interval counted
        if len(parts) == 8:
            counted[k].executions += 1
        elif len(parts) == 10:
            counted[k].polls += 1
            polls[index][k].append(at)
        else:
            counted[k].other_calls += 1
    for index, per_interval in enumerate(polls):
        # Each poll is due an interval after the one before (the first, when it was seeded for).
        previous = dues[index] - interval_s
        for k, times in enumerate(per_interval):
            if len(times) == 1:
                counted[k].polled_once += 1
            for at in times:
                counted[k].lags.append(max(0.0, at - previous - interval_s))
                previous = at
    return counted


def print_followed(result: Followed, check: Callable[[str, bool], str]) -> None:
    print(
        f"\n## {result.runs:,} followed runs, polled every {result.interval_s:g} s (`WATCH_POLL_SECONDS` = "
        f"`WATCH_BACKOFF_MAX_SECONDS`), the fake Buddy answering after {seconds(result.latency)}\n"
    )
    print(
        f"The runs stay in progress and never change; one bot, the state on SQLite. A poll is one lookup: "
        f"{CALLS_PER_POLL} Buddy calls (the action's details, with its log, and the execution). Each call is counted "
        "for the interval of its watch it falls in; the lag is how long after its due time a poll came.\n"
    )
    rows = []
    for number, interval in enumerate(result.intervals, start=1):
        expected = CALLS_PER_POLL * interval.due
        ok = interval.calls == expected and interval.polled_once == interval.due
        lags = interval.lags
        rows.append(
            [
                str(number),
                f"{interval.due:,}",
                f"{interval.polls:,} ({interval.polled_once:,} watches once)",
                f"{interval.calls:,} ({interval.polls:,} + {interval.executions:,} + {interval.other_calls:,})",
                f"= {CALLS_PER_POLL} × due = {expected:,} ({check(f'Buddy calls in interval {number}', ok)})",
                f"{seconds(percentile(lags, 0.5))} / {seconds(percentile(lags, 0.95))} / {seconds(max(lags, default=math.nan))}",
            ]
        )
    print(
        table(
            ["interval", "watches due", "polls", "Buddy calls (details + executions + other)", "target", "lag p50 / p95 / max"],
            rows,
        )
    )
    cpu = result.cpu
    polls = sum(interval.polls for interval in result.intervals)
    behind = max((max(interval.lags, default=0.0) for interval in result.intervals), default=0.0)
    if behind <= result.interval_s * LATE_SHARE:
        held_back = "nothing: the watches were polled as they fell due"
    else:
        held_back = cpu.limiting(idle="the bot") + f"; polls came up to {seconds(behind)} late"
    updates = result.slack_calls.get("chat.update", 0)
    others = sum(result.slack_calls.values()) - updates
    print(
        f"\n- The bot over {seconds(cpu.wall)}: {cpu.seconds[BOT]:.1f} CPU-seconds ({cpu.share(BOT):.0%} of a core; "
        f"{cpu.seconds[BOT] / max(1, polls) * 1000:.1f} ms per poll); VmRSS {result.resident / 2**20:.0f} MB, VmHWM "
        f"{result.peak / 2**20:.0f} MB. CPU: {cpu.describe()}; held back by {held_back}."
    )
    print(
        f"- Slack meanwhile: {updates} `chat.update` (target 0, the runs did not change: "
        f"{check('no edit of an unchanged run', updates == 0)}), {others} other call(s)."
    )
    print(
        f"- In the store at the end: {result.stored:,} watches, {result.stored_at_interval:,} of them due every "
        f"{result.interval_s:g} s ({check('every watch kept', result.stored == result.stored_at_interval == result.runs)})."
    )
