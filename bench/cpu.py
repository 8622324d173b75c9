"""CPU time of processes and of the whole machine, as Linux counts it in ``/proc``.

The benchmark runs the bot, the fakes, PostgreSQL and the load generator on the same cores, so a
figure means little without knowing who was busy meanwhile: a ``CpuMeter`` reads every process's
CPU seconds (``utime + stime``, children included) and the machine's busy share at two moments, and
``limiting`` says which of them held the figure back.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
# A share of one core from which a process with one event loop has little left: the bot's own peak
# is below a whole core, its loop also waits for the store's round trips (and aiosqlite's thread
# for the same interpreter lock).
SATURATED = 0.75
MACHINE_SATURATED = 0.95  # the share of every core busy at or above which the machine has nothing left

BOT = "bot"
FAKE_BUDDY, FAKE_SLACK = "fake Buddy", "fake Slack"
LOAD = "load generator"
POSTGRES = "PostgreSQL"
FAKES = (FAKE_BUDDY, FAKE_SLACK)


def replica_name(index: int) -> str:
    return f"replica {index + 1}"


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the name in brackets may hold spaces


def process_seconds(pid: int) -> float:
    """CPU seconds the process has used, with those of its children it has waited for."""
    fields = _stat_fields(pid)
    return sum(int(value) for value in fields[11:15]) / TICKS  # utime, stime, cutime, cstime


def tree_seconds(root: int) -> float:
    """``process_seconds`` of ``root`` and of every live descendant (PostgreSQL forks a process per
    connection; one that has exited is counted in its parent's ``cutime``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0.0
    for pid in tree:
        try:
            total += process_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile: now in its parent's cutime
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of every core since boot; time stolen by the host counts as busy."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # user … steal; guest time is already inside user
    return total - idle, total


@dataclass(frozen=True)
class Snapshot:
    at: float
    seconds: dict[str, float]
    machine: tuple[int, int]


@dataclass(frozen=True)
class Usage:
    """What each process used between two snapshots."""

    wall: float
    seconds: dict[str, float]
    machine_busy: float  # share of all the machine's cores

    def share(self, name: str) -> float:
        """CPU seconds per second: 1.0 is one core kept busy."""
        return self.seconds.get(name, 0.0) / self.wall if self.wall > 0 else 0.0

    @property
    def others(self) -> float:
        """Cores' worth used by processes not measured: on a shared machine, other people's work."""
        return max(0.0, self.machine_busy * (os.cpu_count() or 1) - sum(self.share(name) for name in self.seconds))

    def describe(self) -> str:
        shares = ", ".join(f"{name} {self.share(name):.0%}" for name in self.seconds)
        return f"{shares}, other processes {self.others:.0%} (of one core each); all {os.cpu_count()} cores {self.machine_busy:.0%} busy"

    def limiting(self, bots: tuple[str, ...] = (BOT,), idle: str = "nothing saturated: the wait for Buddy's latency") -> str:
        """Who held the figure back: a saturated fake, the bot, or a machine with no core left."""
        fakes = [name for name in FAKES if self.share(name) >= SATURATED]
        bot_bound = [name for name in bots if self.share(name) >= SATURATED]
        if fakes and not bot_bound:
            return f"the fakes, not the bot: {' and '.join(fakes)} at ≥ {SATURATED:.0%} of a core"
        if fakes:
            return f"the bot and the fakes ({' and '.join(fakes)}): each at ≥ {SATURATED:.0%} of a core"
        if bot_bound:
            return f"the bot: {' and '.join(bot_bound)} at ≥ {SATURATED:.0%} of a core"
        if self.machine_busy >= MACHINE_SATURATED:
            return "the machine: every core busy (the bots, the fakes, the load generator and other processes)"
        return idle


class CpuMeter:
    """Reads the CPU seconds of named processes. ``trees`` are counted with their descendants."""

    def __init__(self, processes: dict[str, int], trees: dict[str, int] | None = None) -> None:
        self.processes = {LOAD: os.getpid(), **processes}
        self.trees = trees or {}

    def snapshot(self) -> Snapshot:
        seconds = {name: process_seconds(pid) for name, pid in self.processes.items()}
        seconds.update({name: tree_seconds(pid) for name, pid in self.trees.items()})
        return Snapshot(time.monotonic(), seconds, machine_ticks())

    @staticmethod
    def between(first: Snapshot, last: Snapshot) -> Usage:
        busy = last.machine[0] - first.machine[0]
        total = last.machine[1] - first.machine[1]
        used = {name: last.seconds[name] - first.seconds.get(name, 0.0) for name in last.seconds}
        return Usage(last.at - first.at, used, busy / total if total else 0.0)
