"""Slash commands acknowledged ahead of Bolt, in HTTP mode.

Bolt spends about a millisecond of CPU on each request before its listener can call ``ack()``
(building the request and its context, a dozen middlewares, matching every listener, then looking
every 10 ms whether ``ack()`` was called). Under a burst of commands those milliseconds queue up
behind one another, and the last acknowledgement waits for all of them. A command whose
acknowledgement needs nothing but the command itself (a lookup's "Looking up…", help, a usage error,
a refusal) is answered here instead: the signature checked as Bolt checks it, the body parsed as Bolt
parses it, the unit recorded by the same ``Intake``, the acknowledgement rendered by the listener's
own ``ack``, and the unit then run by the work queue as Bolt's listener would have run it.

Anything else, and anything out of the ordinary (a bad signature, a workspace without the app, the
store unreadable for its installation), goes to Bolt, which answers it as it always has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.ops.metrics import Metrics
from bot.slack.clients import NotInstalled, SlackClients
from bot.slack.intake import REDELIVERY, Intake
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"


class QuickCommand(Protocol):
    def acknowledges_alone(self, command: dict) -> bool:
        """Whether ``ack`` needs nothing but the command (no modal to open, no Bolt context)."""
        ...

    async def ack(self, ack: AsyncAck, command: dict) -> None: ...


class QuickAcks:
    def __init__(self, signing_secret: str, intake: Intake, clients: SlackClients) -> None:
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None  # none in Socket Mode
        self.intake = intake
        self.clients = clients
        self.metrics: Metrics | None = None
        self._commands: dict[str, QuickCommand] = {}

    def command(self, name: str, listener: QuickCommand) -> None:
        self._commands[name] = listener

    async def respond(self, body: bytes, headers: Mapping[str, str]) -> BoltResponse | None:
        """The acknowledgement of a command answered here; None for a request Bolt must answer."""
        started = time.perf_counter()
        if (
            self.verifier is None
            or not self._commands
            or headers.get("Content-Type", "").split(";")[0].strip() != FORM
            or b"command=" not in body
        ):
            return None
        text = body.decode("utf-8", errors="replace")
        if not self.verifier.is_valid(
            body=text,
            timestamp=headers.get("X-Slack-Request-Timestamp", ""),
            signature=headers.get("X-Slack-Signature", ""),
        ):
            return None  # Bolt refuses it (401) and counts it
        command = dict(parse_qsl(text, keep_blank_values=True))  # as Bolt parses a form
        listener = self._commands.get(command.get("command", ""))
        if listener is None or "payload" in command or not listener.acknowledges_alone(command):
            return None
        ack = AsyncAck()
        try:
            await self.clients.for_body(command)  # installed through OAuth: Bolt says so to a workspace without the app
            await listener.ack(ack, command)  # before the unit is recorded: Bolt may still be the one to answer
        except (NotInstalled, StateUnavailable) as exc:
            log.debug("a command left to Bolt: %s", exc)
            return None
        if ack.response is None:  # a listener that did not acknowledge: Bolt's way then
            return None
        taken = await self.intake.take_in(command)
        if taken is REDELIVERY:
            return self._answered(BoltResponse(status=200, body=""), started)
        if taken is None:  # no trigger_id to know a redelivery by: Bolt's listener answers it as it comes
            return None
        self.intake.work.start(taken)
        return self._answered(ack.response, started)

    def _answered(self, response: BoltResponse, started: float) -> BoltResponse:
        if self.metrics is not None:
            self.metrics.slack_request("command", response.status, time.perf_counter() - started)
        return response
