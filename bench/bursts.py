"""One burst of commands against a running bot, and what came of it: latencies, losses, Buddy calls."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from bench.fakes import BuddyProcess, SlackProcess
from bench.load import Sent, send_commands
from bench.report import percentile
from tests.fakes.bot_process import BotProcess
from tests.fakes.slack import UPLOAD

SLACK_ACK_DEADLINE_S = 3.0


@dataclass
class Burst:
    name: str
    sent: list[Sent]
    arrivals: dict[str, list[float]]  # channel -> chat.postMessage arrival times
    buddy_calls: list[tuple[str, dict[str, str], float]]
    snippets: dict[str, str] = field(default_factory=dict)

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

    def calls_to(self, fragment: str) -> list[tuple[str, dict[str, str], float]]:
        return [call for call in self.buddy_calls if fragment in call[0]]


def run_burst(name: str, bot: BotProcess, buddy: BuddyProcess, slack: SlackProcess, texts: list[str], *,
              channel_prefix: str, timeout_s: float) -> Burst:
    """Sends every text at once as a command from its own channel, and waits until each is answered
    (the summary and its snippet), or ``timeout_s`` passes."""
    buddy.reset_calls()
    slack.reset()
    sent = asyncio.run(send_commands(bot.events_url, texts, response_url=slack.response_url(channel_prefix),
                                     channel_prefix=channel_prefix, timeout_s=timeout_s))
    wanted = {s.channel for s in sent}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = slack.method_counts()
        if counts.get("files.completeUploadExternal", 0) >= len(wanted) and counts.get(UPLOAD, 0) >= len(wanted):
            break
        time.sleep(0.05)
    arrivals: dict[str, list[float]] = {}
    for channel, at in slack.posts():
        if channel in wanted:
            arrivals.setdefault(channel, []).append(at)
    return Burst(name, sent, arrivals, buddy.calls(), slack.snippets())
