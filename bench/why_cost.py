"""What finding why a run failed costs: the finder's time per 1,000 log lines and for a 100,000-line
log (in process), and the Buddy calls a failed action's lookup adds (through the lookup, against the
fake Buddy of ``tests/fakes``, in process: calls are counted, not timed).

``measure_why_cost()`` returns one row per figure: ``measure``, ``value``, ``target`` and ``met``;
``why_cost_table(rows)`` prints them as the other tables of ``python -m bench``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.report import table
from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.lookup import Lookup
from bot.why.finder import default_finder, find_why
from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "why" / "corpus"
MS_PER_1000_LINES_MAX = 10.0  # a 5,000-line window (WHY_MAX_LINES' default) within 50 ms
# Lines at the cut (MAX_LINE_CHARS): the rules that look for a file name before a colon or a
# parenthesis read that far.
MS_PER_1000_LONG_LINES_MAX = 25.0
BIG_LOG_LINES = 100_000
BIG_LOG_SECONDS_MAX = 1.0
EXTRA_CALLS_MAX = 5  # the budget per failed action
ERROR_LINE = "sensor.c:18:25: error: 'struct reading' has no member named 'label'"


def measure_why_cost(seconds: float = 1.0) -> list[dict[str, Any]]:
    """The rows, each measured for about ``seconds``."""
    noise = _noise()
    window = _log(noise, 5_000)
    long_lines = _log([line for line in (line.ljust(1_000, "x") for line in noise) if find_why([line]) is None], 5_000)
    big = _log(noise, BIG_LOG_LINES)
    default_finder()  # compiled once per process, as in the bot
    per_1000 = _seconds_per_run(window, seconds) / len(window) * 1000
    per_1000_long = _seconds_per_run(long_lines, seconds) / len(long_lines) * 1000
    big_seconds = _seconds_per_run(big, seconds)
    calls = asyncio.run(_count_calls())
    return [
        _row(
            "finder, per 1,000 lines (a 5,000-line window of CI output, the error on its last line)",
            f"{per_1000 * 1000:.1f} ms",
            f"≤ {MS_PER_1000_LINES_MAX:g} ms",
            per_1000 * 1000 <= MS_PER_1000_LINES_MAX,
        ),
        _row(
            "finder, per 1,000 lines of 1,000 characters each",
            f"{per_1000_long * 1000:.1f} ms",
            f"≤ {MS_PER_1000_LONG_LINES_MAX:g} ms",
            per_1000_long * 1000 <= MS_PER_1000_LONG_LINES_MAX,
        ),
        _row(
            f"finder, a {BIG_LOG_LINES:,}-line log read whole (more than the bot reads: WHY_MAX_LINES ≤ 6,000)",
            f"{big_seconds * 1000:.0f} ms",
            f"≤ {BIG_LOG_SECONDS_MAX * 1000:.0f} ms",
            big_seconds <= BIG_LOG_SECONDS_MAX,
        ),
        *calls,
    ]


def why_cost_table(rows: list[dict[str, Any]]) -> str:
    return table(
        ["", "measured", "target", ""], [[r["measure"], r["value"], r["target"], "met" if r["met"] else "MISSED"] for r in rows]
    )


def _row(measure: str, value: str, target: str, met: bool) -> dict[str, Any]:
    return {"measure": measure, "value": value, "target": target, "met": met}


def _noise() -> list[str]:
    """The corpus's lines that no rule matches: real CI output around the errors."""
    lines = [line for path in sorted(CORPUS.glob("*.log")) for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in dict.fromkeys(lines) if find_why([line]) is None]


def _log(noise: list[str], count: int) -> list[str]:
    """``count`` lines: noise, then the error last, so that every line is read."""
    body = (noise * (count // len(noise) + 1))[: count - 1]
    return [*body, ERROR_LINE]


def _seconds_per_run(lines: list[str], seconds: float) -> float:
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or runs == 0:
        why = find_why(lines)
        assert why is not None and why.line_number == len(lines)
        runs += 1
    return elapsed / runs


async def _count_calls() -> list[dict[str, Any]]:
    """A failed and a successful action of one run, a 100,000-line log each, looked up once with the
    log only behind ``/logs`` and once with it in the details."""
    fake = FakeBuddy().start()
    try:
        log = [f"[{n:06d}] compiling module_{n % 97}.py ... ok" for n in range(BIG_LOG_LINES)]
        log[-100] = ERROR_LINE
        failed, passed = FakeAction(status="FAILED", log=log), FakeAction(status="SUCCESSFUL", log=log)
        run = fake.add_execution(actions=[failed, passed], status="FAILED")
        settings = Settings(_env_file=None, buddy_token=TOKEN, buddy_api_url=fake.url)
        counts: dict[tuple[bool, bool], int] = {}
        for include_log in (False, True):
            fake.include_log = include_log
            for action in (passed, failed):
                fake.reset_calls()
                async with BuddyClient(settings) as client:
                    ref = BuddyRef("app.buddy.works", "acme", "web", 7, str(run.id), action.ae_id)
                    report = await Lookup(client, settings).report(ref)
                assert (report.why is not None) == (action is failed)
                counts[(include_log, action is failed)] = len(fake.calls())
    finally:
        fake.stop()
    rows = []
    for include_log, how in ((False, "the log through /logs only"), (True, "log[] in the details")):
        success, failure = counts[(include_log, False)], counts[(include_log, True)]
        extra = failure - success
        target = EXTRA_CALLS_MAX if not include_log else 0
        rows.append(
            _row(
                f"extra Buddy calls per failed action, {BIG_LOG_LINES:,}-line log, {how}",
                f"{extra} ({failure} calls; a successful run: {success})",
                f"≤ {target}",
                extra <= target,
            )
        )
    return rows


if __name__ == "__main__":
    print(why_cost_table(measure_why_cost()))
