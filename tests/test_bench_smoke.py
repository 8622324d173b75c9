"""The benchmark runs end to end (bot, baseline, fakes, big log, renders) and prints its tables.

A tiny load, so it stays fast; the figures themselves are not judged here (``python -m bench``)."""

from __future__ import annotations

import subprocess
import sys

from tests.fakes.bot_process import ROOT


def test_a_tiny_benchmark_run_prints_every_table():
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--concurrency", "5", "--latency", "0.05", "--log-lines", "50",
         "--big-log-lines", "2000", "--render-seconds", "0.05"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    out = run.stdout
    assert run.returncode in (0, 1), run.stderr[-3000:]
    for heading in ("## 5 `/buddy` commands at once", "## Every burst through the bot", "## A big log",
                    "## Rendering one answer"):
        assert heading in out, out
    [answered] = [line for line in out.splitlines() if line.startswith("| answered / lost / duplicated")]
    assert [cell.strip() for cell in answered.split("|")[2:4]] == ["5 / 0 / 0", "5 / 0 / 0"], answered  # bot, baseline
    assert "every target met" in out or "MISSED: " in out, out
