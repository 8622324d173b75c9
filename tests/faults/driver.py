"""A person using Slack with the running bot: sends what Slack sends, and reads back what they were
shown (the ephemeral response_url messages, the replies in a thread, the snippets).

Each test uses its own pipeline ids, channels, message timestamps and response_url names, so the
traffic of a test that ended a moment ago can never be mistaken for this test's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bot.render import block_kit_violations
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy, FakeExecution
from tests.fakes.signing import event_callback_body, post_signed, slash_command_body
from tests.fakes.slack import BOT_USER_ID, Call, FakeSlack

_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def unique_ts() -> str:
    return f"1710000000.{next(_ids):06d}"


def visible_text(message: Any) -> str:
    """Every text a person reads in a message (its ``text`` and all text inside its blocks)."""
    found: list[str] = []
    stack = [message]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return "\n".join(found)


@contextmanager
def launch_bot(
    tmp_path_factory: pytest.TempPathFactory, fake_slack: FakeSlack, fake_buddy: FakeBuddy, env: dict[str, str]
) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path_factory.mktemp("bot"), slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Run:
    """A run seeded in the fake Buddy, on a pipeline no other test uses."""

    ws: str
    pipeline_id: int
    execution: FakeExecution
    action: FakeAction
    action_url: str  # .../execution/<hex>/?actionExecutionId=<id>
    execution_url: str  # .../execution/<hex>
    ids: str  # "<ws> web <pipeline> <execution id> <action execution id>", the API's integer execution id

    @property
    def numeric_execution_url(self) -> str:
        """An execution link with the API's integer id: one call, no search of the executions list."""
        return f"https://app.buddy.works/{self.ws}/web/pipelines/pipeline/{self.pipeline_id}/execution/{self.execution.id}"

    @property
    def path(self) -> str:
        """The API path prefix of this run's pipeline, to count Buddy calls by."""
        return f"/workspaces/{self.ws}/projects/web/pipelines/{self.pipeline_id}/"


def seed(fake_buddy: FakeBuddy, *, ws: str = "acme", runs: int = 1, **action: Any) -> Run:
    """``runs`` runs on a fresh pipeline (the last one is returned), its action built from ``action``."""
    pipeline_id = 1000 + next(_ids)
    for _ in range(runs - 1):
        fake_buddy.add_execution(ws, "web", pipeline_id)
    act = FakeAction(**{"name": "Deploy", "log": [f"line {i}" for i in range(1, 41)], **action})
    execution = fake_buddy.add_execution(ws, "web", pipeline_id, actions=[act], branch="main")
    return Run(
        ws=ws,
        pipeline_id=pipeline_id,
        execution=execution,
        action=act,
        action_url=fake_buddy.html_url(ws, "web", pipeline_id, execution, act),
        execution_url=fake_buddy.html_url(ws, "web", pipeline_id, execution),
        ids=f"{ws} web {pipeline_id} {execution.id} {act.ae_id}",
    )


@dataclass
class Slash:
    """A /buddy command sent: the HTTP status and the acknowledgement the person saw at once."""

    name: str  # of its response_url
    status: int
    ack: Any  # the ack's JSON body, or its text

    @property
    def ack_text(self) -> str:
        return visible_text(self.ack) if isinstance(self.ack, dict) else str(self.ack)


class Person:
    def __init__(self, bot: BotProcess, slack: FakeSlack, buddy: FakeBuddy, *, signing_secret: str = SIGNING_SECRET) -> None:
        self.bot = bot
        self.slack = slack
        self.buddy = buddy
        self.signing_secret = signing_secret
        self.channel = unique("C")  # this test's own channel: a late reply of another test never lands here

    # -- what the person does ----------------------------------------------------------------------

    def slash(self, text: str, *, channel: str | None = None, user: str = "U123", name: str | None = None) -> Slash:
        """``name``: of the command's response_url, for a test that switches a fault on for it first."""
        name = name or unique("r")
        form = slash_command_body(text, channel_id=channel or self.channel, user_id=user,
                                  response_url=self.slack.response_url(name))
        status, body = post_signed(self.bot.events_url, form, self.signing_secret, content_type="application/x-www-form-urlencoded")
        try:
            ack: Any = json.loads(body) if body else ""
        except ValueError:
            ack = body
        return Slash(name, status, ack)

    def mention(self, text: str, *, channel: str, user: str = "U777") -> str:
        ts = unique_ts()
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts, "channel": channel,
                 "event_ts": ts}
        assert self.event(event) == 200
        return ts

    def message(self, text: str | None, *, channel: str, user: str = "U777", **extra: Any) -> str:
        """A message in a channel, or in a DM when ``channel`` starts with D."""
        ts = unique_ts()
        kind = "im" if channel.startswith("D") else "channel"
        event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel, "channel_type": kind,
                 "event_ts": ts, **extra}
        assert self.event(event) == 200
        return ts

    def event(self, event: dict) -> int:
        """Any Events API event, signed; returns the HTTP status."""
        body = event_callback_body(event)
        return post_signed(self.bot.events_url, body, self.signing_secret, content_type="application/json")[0]

    # -- what the person sees ----------------------------------------------------------------------

    def ephemeral(self, slash: Slash, count: int = 1, timeout: float = 20) -> list[dict]:
        """The messages only they saw (accepted at the command's response_url), once ``count`` arrived."""
        self.slack.server.wait_until(lambda: len(self.shown(slash)) >= count, timeout=timeout)
        return self.shown(slash)

    def shown(self, slash: Slash) -> list[dict]:
        return [c.params for c in self.slack.calls(f"response_url:{slash.name}") if c.status == 200]

    def told(self, slash: Slash, timeout: float = 20) -> str:
        """The one ephemeral message the command ended in, as text."""
        [message] = self.ephemeral(slash, timeout=timeout)
        return visible_text(message)

    def posts(self, channel: str, *, thread_ts: str | None = None) -> list[Call]:
        """Messages the bot posted in ``channel`` (in that thread, when given) that Slack accepted."""
        return [c for c in self.slack.calls("chat.postMessage") if _posted(c, channel, thread_ts)]

    def wait_posts(self, channel: str, count: int = 1, *, thread_ts: str | None = None, timeout: float = 20) -> list[Call]:
        return self.slack.wait_for("chat.postMessage", count, timeout, predicate=lambda c: _posted(c, channel, thread_ts))

    def wait_uploads(self, channel: str, count: int = 1, timeout: float = 20) -> list[dict]:
        self.slack.server.wait_until(lambda: len(self.uploads(channel)) >= count, timeout=timeout)
        return self.uploads(channel)

    def uploads(self, channel: str) -> list[dict]:
        return [u for u in self.slack.uploads() if u["channel"] == channel]

    def settle(self, channel: str) -> None:
        """Waits until the bot has answered a fresh mention in ``channel``: whatever it was going to do
        with what was sent before (which needs no Buddy call), it has done by then."""
        ts = self.mention("help", channel=channel)
        self.wait_posts(channel, thread_ts=ts)

    def buddy_calls(self, run_or_path: Run | str) -> list:
        path = run_or_path.path if isinstance(run_or_path, Run) else run_or_path
        return self.buddy.calls(path)


def assert_all_within_block_kit(slack: FakeSlack) -> None:
    """Every message the bot sent (posted, or to a response_url) kept Block Kit's limits."""
    sent = [c.params for c in slack.calls() if c.method == "chat.postMessage" or c.method.startswith("response_url:")]
    for message in sent:
        assert block_kit_violations(message) == [], message


def _posted(call: Call, channel: str, thread_ts: str | None) -> bool:
    ok = isinstance(call.response, dict) and call.response.get("ok")
    return bool(ok) and call.response.get("channel") == channel and (thread_ts is None or call.params.get("thread_ts") == thread_ts)
