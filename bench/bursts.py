"""One burst of commands against a running bot, and what came of it: latencies, losses, Buddy calls."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import CpuMeter, Snapshot, Usage
from bench.fakes import BuddyProcess, SlackProcess
from bench.load import Sent, send_commands
from bench.report import percentile
from tests.fakes.bot_process import BotProcess
from tests.fakes.slack import UPLOAD

SLACK_ACK_DEADLINE_S = 3.0


@dataclass
class BurstPlan:
    name: str
    texts: list[str]
    round_trips: int | None  # sequential calls to Buddy; None: no latency target
    call_budget: int
    latency_target: bool = True


@dataclass
class Burst:
    name: str
    sent: list[Sent]
    arrivals: dict[str, list[float]]  # channel -> chat.postMessage arrival times
    buddy_calls: list[tuple[str, dict[str, str], float]]
    snippets: dict[str, str] = field(default_factory=dict)
    cpu_acks: Usage | None = None  # from the start line until the last acknowledgement
    cpu_answers: Usage | None = None  # from the start line until the last answer and snippet

    @property
    def commands(self) -> int:
        return len(self.sent)

    @property
    def acks(self) -> list[float]:
        return [s.ack_s if s.status == 200 else math.inf for s in self.sent]

    @property
    def end_to_end(self) -> list[float]:
        return [self.arrivals[s.channel][0] - s.sent_at if self.arrivals.get(s.channel) else math.inf for s in self.sent]

    def ack(self, share: float) -> float:
        return percentile(self.acks, share)

    def e2e(self, share: float) -> float:
        return percentile(self.end_to_end, share)

    @property
    def acked_in_time(self) -> int:
        return sum(1 for a in self.acks if a <= SLACK_ACK_DEADLINE_S)

    @property
    def answered(self) -> int:
        return sum(1 for s in self.sent if self.arrivals.get(s.channel))

    @property
    def lost(self) -> int:
        return self.commands - self.answered

    @property
    def duplicated(self) -> int:
        return sum(len(times) - 1 for times in self.arrivals.values() if len(times) > 1)

    def answered_per_second(self) -> float:
        """Answers a second in the middle half of the answers: the rate once the burst is under way,
        without the first round trips to Buddy nor the last stragglers."""
        times = sorted(arrivals[0] for arrivals in self.arrivals.values())
        first, last = len(times) // 4, len(times) * 3 // 4 - 1
        if last <= first or times[last] <= times[first]:
            return math.nan
        return (last - first) / (times[last] - times[first])

    def calls_to(self, fragment: str) -> list[tuple[str, dict[str, str], float]]:
        return [call for call in self.buddy_calls if fragment in call[0]]


def run_burst(
    name: str,
    bots: BotProcess | Sequence[BotProcess],
    buddy: BuddyProcess,
    slack: SlackProcess,
    texts: list[str],
    *,
    channel_prefix: str,
    timeout_s: float,
    meter: CpuMeter | None = None,
) -> Burst:
    """Sends every text at once as a command from its own channel (to several replicas: to each in
    turn), and waits until each is answered (the summary and its snippet), or ``timeout_s`` passes.
    With a ``meter``, what every process used until the last acknowledgement and until the end."""
    replicas = [bots] if isinstance(bots, BotProcess) else list(bots)
    buddy.reset_calls()
    slack.reset()
    marks: list[Snapshot] = []

    def at_the_start_line() -> None:
        if meter is not None:
            marks.append(meter.snapshot())

    sent = asyncio.run(
        send_commands(
            [bot.events_url for bot in replicas],
            texts,
            response_url=slack.response_url(channel_prefix),
            channel_prefix=channel_prefix,
            timeout_s=timeout_s,
            on_start=at_the_start_line,
        )
    )
    if meter is not None:
        marks.append(meter.snapshot())
    wanted = {s.channel for s in sent}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = slack.method_counts()
        if counts.get("files.completeUploadExternal", 0) >= len(wanted) and counts.get(UPLOAD, 0) >= len(wanted):
            break
        time.sleep(0.05)
    if meter is not None:
        marks.append(meter.snapshot())
    arrivals: dict[str, list[float]] = {}
    for channel, at in slack.posts():
        if channel in wanted:
            arrivals.setdefault(channel, []).append(at)
    usages = [CpuMeter.between(marks[0], mark) for mark in marks[1:]] if marks else [None, None]
    return Burst(name, sent, arrivals, buddy.calls(), slack.snippets(), *usages)
