"""The state on PostgreSQL against the same burst on SQLite: every command is a unit of work written
to the store before its acknowledgement leaves, so the store's round trip is in every ack."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.bursts import SLACK_ACK_DEADLINE_S, Burst, BurstPlan
from bench.cpu import BOT, POSTGRES
from bench.memory import peak_bytes
from bench.report import ratio, seconds, table
from tests.fakes.postgres import PostgresServer

if TYPE_CHECKING:
    from bench.run import Bench

ACK_TARGET_S = 0.05 * SLACK_ACK_DEADLINE_S
E2E_AGAINST_SQLITE = 1.10  # end-to-end p95 on PostgreSQL within 10 % of SQLite's
SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
BACKGROUND_TRANSACTIONS_S = 10  # the work queue's upkeep and the watcher, a second, at most
STATS_SETTLE_S = 12  # PostgreSQL's server processes report their counts within 10 s of going idle


@dataclass
class StoreRun:
    store: str
    burst: Burst
    peak: int
    transactions: int | None = None  # committed or rolled back in the database during the burst (PostgreSQL)


def measure_stores(bench: Bench, postgres: PostgresServer) -> list[StoreRun]:
    """A fresh bot on each store, warmed up, a first burst to open its connections, then the burst measured."""
    n = bench.args.concurrency
    done = []
    database = postgres.new_database()
    for store, env in ((SQLITE, {}), (POSTGRESQL, {"DATABASE_URL": database})):
        on_postgres = store == POSTGRESQL
        bot = bench.process(env=env).start()
        try:
            bench.warm_up(bot)
            first = [r.numeric_url for r in bench.runs(n)]
            bench.burst(bot, BurstPlan("first burst", first, 2, 2 * n), "CF")
            measured = [r.numeric_url for r in bench.runs(n)]
            before = _settled_transactions(postgres, database) if on_postgres else 0
            meter = bench.meter([bot], postgres if on_postgres else None)
            burst = bench.burst(bot, BurstPlan(f"{n} distinct action links on {store}", measured, 2, 2 * n), "CS", meter)
            transactions = _settled_transactions(postgres, database) - before if on_postgres else None
            done.append(StoreRun(store, burst, peak_bytes(bot.proc.pid), transactions))  # type: ignore[union-attr]
        finally:
            bot.stop()
    return done


def _settled_transactions(postgres: PostgresServer, url: str) -> int:
    """The database's transaction count once the burst's have all been reported: a server process
    reports its counts at most once a second, and within 10 s of going idle."""
    deadline = time.monotonic() + STATS_SETTLE_S
    count = _transactions(postgres, url)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = _transactions(postgres, url)
        if now - count <= BACKGROUND_TRANSACTIONS_S:
            return now
        count = now
    return count


def _transactions(postgres: PostgresServer, url: str) -> int:
    name = url.rsplit("/", 1)[1]
    return int(postgres.psql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{name}'"))


def print_stores(runs: list[StoreRun], latency: float, check: Callable[[str, bool], str]) -> None:
    sqlite, postgres = runs
    n = postgres.burst.commands
    print(
        f"\n## The state on PostgreSQL: {n} `/buddy` commands at once, the fake Buddy answering after "
        f"{seconds(latency)}, against the same run on SQLite\n"
    )
    print("Each bot fresh, warmed up, after a first burst of the same size (its connections); PostgreSQL on this machine too.\n")
    e2e_target = sqlite.burst.e2e(0.95) * E2E_AGAINST_SQLITE
    rows = []
    for label, share, target in (("ack p50", 0.5, None), ("ack p95", 0.95, None), ("ack p99", 0.99, ACK_TARGET_S)):
        rows.append(
            [
                label,
                seconds(sqlite.burst.ack(share)),
                seconds(postgres.burst.ack(share)),
                *_against(postgres.burst.ack(share), target, f"≤ {seconds(target or 0)}"),
            ]
        )
    check("PostgreSQL ack p99", postgres.burst.ack(0.99) <= ACK_TARGET_S)
    for label, share, target in (
        ("end-to-end p50", 0.5, None),
        ("end-to-end p95", 0.95, e2e_target),
        ("end-to-end p99", 0.99, None),
    ):
        rows.append(
            [
                label,
                seconds(sqlite.burst.e2e(share)),
                seconds(postgres.burst.e2e(share)),
                *_against(postgres.burst.e2e(share), target, f"≤ 1.1 × SQLite = {seconds(target or 0)}"),
            ]
        )
    check("PostgreSQL end-to-end p95 within 10 % of SQLite", postgres.burst.e2e(0.95) <= e2e_target)
    bursts = [run.burst for run in runs]
    rows.append(
        [
            f"acked within {SLACK_ACK_DEADLINE_S:g} s",
            *(f"{b.acked_in_time}/{b.commands}" for b in bursts),
            "all",
            check("every ack in time on PostgreSQL", postgres.burst.acked_in_time == n),
        ]
    )
    rows.append(
        [
            "answered / lost / duplicated",
            *(f"{b.answered} / {b.lost} / {b.duplicated}" for b in bursts),
            "all / 0 / 0",
            check("nothing lost or duplicated on PostgreSQL", postgres.burst.lost == postgres.burst.duplicated == 0),
        ]
    )
    rows.append(
        [
            "Buddy calls per lookup",
            *(f"{len(b.buddy_calls) / b.commands:.2f}" for b in bursts),
            "≤ 2",
            check("2 calls per lookup on PostgreSQL", len(postgres.burst.buddy_calls) <= 2 * n),
        ]
    )
    for label, name in (("bot CPU per command", BOT), ("PostgreSQL server CPU per command", POSTGRES)):
        rows.append([label, *(_cpu_per_command(b, name) for b in bursts), "", ""])
    transactions = postgres.transactions
    rows.append(["PostgreSQL transactions per command (≈)", "—", f"{transactions / n:.1f}" if transactions else "—", "", ""])
    rows.append(["peak memory (VmHWM)", *(f"{run.peak / 2**20:.0f} MB" for run in runs), "", ""])
    print(table(["", SQLITE, POSTGRESQL, "target (PostgreSQL)", "PostgreSQL / target"], rows))
    print()
    for run in runs:
        usage = run.burst.cpu_acks
        if usage is not None:
            print(
                f"- {run.store}, until the last ack ({seconds(usage.wall)}): CPU {usage.describe()}; "
                f"held back by {usage.limiting()}."
            )


def _against(measured: float, target: float | None, text: str) -> list[str]:
    return ["", ""] if target is None else [text, ratio(measured, target)]


def _cpu_per_command(burst: Burst, name: str) -> str:
    usage = burst.cpu_answers
    if usage is None or name not in usage.seconds:
        return "—"
    return f"{usage.seconds[name] / burst.commands * 1000:.1f} ms"
