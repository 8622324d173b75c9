"""Replicas sharing one PostgreSQL, at saturation: how many commands a second they answer, and what
each command costs in CPU, against one replica on the same store.

Saturation: every replica gets ``--saturation-commands`` commands at once, far more than it answers
in a second, so for most of the burst it has more work than it can do. The rate is taken over the
middle half of the answers (without the first round trips to Buddy and the last stragglers). The
load generator sends each command to the next replica in turn, as a round-robin load balancer does;
a proxy in between would be one more process on the same cores.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.bursts import Burst, BurstPlan
from bench.cpu import BOT, FAKE_BUDDY, FAKE_SLACK, POSTGRES, replica_name
from bench.report import seconds, table
from tests.fakes.postgres import PostgresServer

if TYPE_CHECKING:
    from bench.run import Bench

SCALING_TARGET = 1.7
CORES_FOR_THE_TARGET = 4  # the replicas, the fakes, PostgreSQL and the load generator each need a core


@dataclass
class Saturated:
    replicas: int
    burst: Burst

    @property
    def bots(self) -> tuple[str, ...]:
        return (BOT,) if self.replicas == 1 else tuple(replica_name(n) for n in range(self.replicas))

    @property
    def bot_seconds(self) -> float:
        usage = self.burst.cpu_answers
        return sum(usage.seconds[name] for name in self.bots) if usage else math.nan


def measure_replicas(bench: Bench, postgres: PostgresServer, replicas: int, per_replica: int) -> list[Saturated]:
    results = []
    for count in (1, replicas):
        database = postgres.new_database()
        # One after another: the first migrates the fresh database, the others find it migrated.
        bots = [bench.process(env={"DATABASE_URL": database}).start() for _ in range(count)]
        try:
            for bot in bots:
                bench.warm_up(bot)
            size = per_replica * count
            # The first burst opens each replica's connections to Buddy and Slack: not measured.
            opening = min(per_replica, bench.args.concurrency) * count
            bench.burst(bots, BurstPlan("first burst", [r.numeric_url for r in bench.runs(opening)], 2, 2 * opening), "CR")
            plan = BurstPlan(f"saturation, {count} replicas", [r.numeric_url for r in bench.runs(size)], 2, 2 * size)
            results.append(Saturated(count, bench.burst(bots, plan, "CQ", bench.meter(bots, postgres))))
        finally:
            for bot in bots:
                bot.stop()
    return results


def print_replicas(results: list[Saturated], latency: float, check: Callable[[str, bool], str]) -> None:
    one, many = results
    cores = os.cpu_count() or 1
    print(
        f"\n## {many.replicas} replicas against one, at saturation, the state on one PostgreSQL; the fake Buddy "
        f"answering after {seconds(latency)}\n"
    )
    print(
        f"{one.burst.commands} commands at once per replica, sent to each replica in turn, after a first burst that "
        "opens the connections. The rate is over the middle half of the answers.\n"
    )
    columns = [f"1 replica ({one.burst.commands} commands)", f"{many.replicas} replicas ({many.burst.commands} commands)"]
    scaling = many.burst.answered_per_second() / one.burst.answered_per_second()
    if cores >= CORES_FOR_THE_TARGET:
        target = f"≥ {SCALING_TARGET}× ({check(f'{many.replicas} replicas scale', scaling >= SCALING_TARGET)})"
    else:
        target = f"no target on {cores} cores (≥ {SCALING_TARGET}× where os.cpu_count() ≥ {CORES_FOR_THE_TARGET})"
    rows = [
        ["answered commands per second", *(f"{r.burst.answered_per_second():.0f}" for r in results), f"{scaling:.2f}×", target],
        [
            "bot CPU-seconds per command",
            *(f"{r.bot_seconds / r.burst.commands * 1000:.1f} ms" for r in results),
            f"{(many.bot_seconds / many.burst.commands) / (one.bot_seconds / one.burst.commands):.2f}×",
            "",
        ],
        ["bot CPU, share of a core each", *(_shares(r, r.bots) for r in results), "", ""],
        ["fake Buddy / fake Slack, share of a core", *(_shares(r, (FAKE_BUDDY, FAKE_SLACK)) for r in results), "", ""],
        ["PostgreSQL server, share of a core", *(_shares(r, (POSTGRES,)) for r in results), "", ""],
        [
            f"all {cores} cores busy",
            *(f"{r.burst.cpu_answers.machine_busy:.0%}" if r.burst.cpu_answers else "—" for r in results),
            "",
            "",
        ],
        [
            "ack p99 / end-to-end p95",
            *(f"{seconds(r.burst.ack(0.99))} / {seconds(r.burst.e2e(0.95))}" for r in results),
            "",
            "at saturation: no target",
        ],
        [
            "answered / lost / duplicated",
            *(f"{r.burst.answered} / {r.burst.lost} / {r.burst.duplicated}" for r in results),
            "",
            check(
                f"nothing lost or duplicated with {many.replicas} replicas",
                all(r.burst.lost == r.burst.duplicated == 0 for r in results),
            ),
        ],
        ["held back by", *(r.burst.cpu_answers.limiting(r.bots) if r.burst.cpu_answers else "—" for r in results), "", ""],
    ]
    print(table(["", *columns, "ratio", "target"], rows))


def _shares(result: Saturated, names: tuple[str, ...]) -> str:
    usage = result.burst.cpu_answers
    return " / ".join(f"{usage.share(name):.0%}" for name in names) if usage else "—"
