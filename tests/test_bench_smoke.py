"""The benchmark runs end to end (bot, baseline, fakes, big log, renders, the state on PostgreSQL,
replicas, a big burst, followed runs) and prints its tables.

A tiny load, so it stays fast; the figures themselves are not judged here (``python -m bench``). The
sections on PostgreSQL start their own server (``tests/fakes/postgres.py``): never skipped."""

from __future__ import annotations

import subprocess
import sys

from tests.fakes.bot_process import ROOT


def test_a_tiny_benchmark_run_prints_every_table():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--concurrency",
            "5",
            "--latency",
            "0.05",
            "--log-lines",
            "50",
            "--big-log-lines",
            "2000",
            "--render-seconds",
            "0.05",
            "--replicas",
            "2",
            "--saturation-commands",
            "10",
            "--big-burst",
            "20",
            "--followed-runs",
            "50",
            "--followed-interval",
            "1",
            "--followed-intervals",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert run.returncode in (0, 1), run.stderr[-3000:]
    for heading in (
        "## 5 `/buddy` commands at once",
        "## Every burst through the bot",
        "## A big log",
        "## Rendering one answer",
        "## The state on PostgreSQL: 5 `/buddy` commands at once",
        "## 2 replicas against one, at saturation",
        "## 20 `/buddy` commands at once on one replica",
        "## 50 followed runs, polled every 1 s",
    ):
        assert heading in out, out
    answered = [line for line in out.splitlines() if line.startswith("| answered / lost / duplicated")]
    assert [cell.strip() for cell in answered[0].split("|")[2:4]] == ["5 / 0 / 0", "5 / 0 / 0"], answered  # bot, baseline
    assert [cell.strip() for cell in answered[1].split("|")[2:4]] == ["5 / 0 / 0", "5 / 0 / 0"], answered  # SQLite, PostgreSQL
    assert [cell.strip() for cell in answered[2].split("|")[2:4]] == ["10 / 0 / 0", "20 / 0 / 0"], answered  # 1, 2 replicas
    assert [cell.strip() for cell in answered[3].split("|")[2:4]] == ["5 / 0 / 0", "20 / 0 / 0"], answered  # first, big burst
    followed = [line for line in out.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert [cell.split("|")[2].strip() for cell in followed] == ["50", "50"], out  # watches due, each interval
    assert "In the store at the end: 50 watches" in out, out
    assert "every target met" in out or "MISSED: " in out, out
