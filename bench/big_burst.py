"""A thousand commands at once on one replica: acknowledged in time, answered within 1.3 × the two
round trips to Buddy, none lost. Each figure says who held it back: the bot, the fakes, or a
machine with no core left."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.bursts import SLACK_ACK_DEADLINE_S, Burst, BurstPlan
from bench.floor import http_floor
from bench.load import Sent
from bench.report import percentile, ratio, seconds, table

if TYPE_CHECKING:
    from bench.run import Bench

ACK_TARGET_S = 0.05 * SLACK_ACK_DEADLINE_S
ROUND_TRIPS = 2  # the details and the execution, at once; then Slack
E2E_SLACK = 1.3


def measure_big_burst(bench: Bench, size: int) -> tuple[Burst, Burst, list[Sent]]:
    """A first burst of ``--concurrency`` commands (opening connections), then the ``size`` measured;
    then the same ``size`` sent to the bare HTTP server (``bench/floor.py``)."""
    bot = bench.process().start()
    try:
        bench.warm_up(bot)
        meter = bench.meter([bot])
        opening = min(size, bench.args.concurrency)
        first = bench.burst(bot, BurstPlan("first", [r.numeric_url for r in bench.runs(opening)], 2, 2 * opening), "CG", meter)
        measured = bench.burst(bot, BurstPlan("measured", [r.numeric_url for r in bench.runs(size)], 2, 2 * size), "CH", meter)
    finally:
        bot.stop()
    return first, measured, http_floor(size)


def print_big_burst(first: Burst, burst: Burst, floor: list[Sent], latency: float, check: Callable[[str, bool], str]) -> None:
    n = burst.commands
    e2e_target = ROUND_TRIPS * latency * E2E_SLACK
    print(f"\n## {n:,} `/buddy` commands at once on one replica, the fake Buddy answering after {seconds(latency)}\n")
    print(
        f"The upstream bound is {ROUND_TRIPS} round trips to Buddy ({seconds(ROUND_TRIPS * latency)}). A first burst "
        f"({first.commands} commands) opens the bot's connections and is shown, not held to the targets.\n"
    )
    rows = []
    for label, share, target in (("ack p50", 0.5, None), ("ack p95", 0.95, None), ("ack p99", 0.99, ACK_TARGET_S)):
        rows.append([label, seconds(first.ack(share)), seconds(burst.ack(share)), *_against(burst.ack(share), target)])
    check(f"ack p99 of {n} at once", burst.ack(0.99) <= ACK_TARGET_S)
    floor_p99 = percentile([s.ack_s if s.status == 200 else math.inf for s in floor], 0.99)
    rows.append(["ack p99 of the HTTP server alone (no bot)", "", seconds(floor_p99), "", "the floor (see below)"])
    for label, share, target in (
        ("end-to-end p50", 0.5, None),
        ("end-to-end p95", 0.95, e2e_target),
        ("end-to-end p99", 0.99, None),
    ):
        rows.append([label, seconds(first.e2e(share)), seconds(burst.e2e(share)), *_against(burst.e2e(share), target)])
    check(f"end-to-end p95 of {n} at once", burst.e2e(0.95) <= e2e_target)
    both = (first, burst)
    rows.append(
        [
            f"acked within {SLACK_ACK_DEADLINE_S:g} s",
            *(f"{b.acked_in_time}/{b.commands}" for b in both),
            "all",
            check(f"every ack in time of {n} at once", burst.acked_in_time == n),
        ]
    )
    rows.append(
        [
            "answered / lost / duplicated",
            *(f"{b.answered} / {b.lost} / {b.duplicated}" for b in both),
            "all / 0 / 0",
            check(f"nothing lost of {n} at once", burst.lost == burst.duplicated == 0),
        ]
    )
    rows.append(
        [
            "Buddy calls",
            *(str(len(b.buddy_calls)) for b in both),
            f"≤ {2 * n}",
            check(f"calls of {n} at once", len(burst.buddy_calls) <= 2 * n),
        ]
    )
    rows.append(["answered per second (middle half)", *(f"{b.answered_per_second():.0f}" for b in both), "", ""])
    print(table(["", f"first burst ({first.commands})", f"measured ({n:,})", "target", "measured / target"], rows))
    print()
    for phase, usage in (("until the last ack", burst.cpu_acks), ("until the last answer", burst.cpu_answers)):
        if usage is not None:
            print(f"- Measured burst, {phase} ({seconds(usage.wall)}): CPU {usage.describe()}; held back by {usage.limiting()}.")
    print(
        f"- The HTTP server alone (`bench/floor.py`: aiohttp, the bot's server, with a handler that reads the body and "
        f"answers 200 at once) acknowledges the same {n:,} in {seconds(floor_p99)} (p99): the bot's acknowledgements "
        f"take {burst.ack(0.99) / floor_p99:.1f} × that, for the signature, the parse, the unit written down "
        "and the listener's own acknowledgement."
    )


def _against(measured: float, target: float | None) -> list[str]:
    return ["", ""] if target is None else [f"≤ {seconds(target)}", ratio(measured, target)]
