"""One shape for a run, whether Buddy pushed it (a workspace webhook) or the poller pulled it.

A webhook body is the execution model of Buddy's API under ``execution`` (buddy-webhooks.md §2.2),
without a field naming the event: the status tells a start (``INPROGRESS``, no finish date) from an
end. Push payloads have no ``execution`` and are ignored. Finished runs carry every action's whole
log inline, tens of megabytes; a delivery is read as it streams in (ijson's push parser) and the logs
are skipped as they pass, never built, since the thread details come from the API (the action worth
showing and its tail), never from the payload. What is kept is the run without its logs: kilobytes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import ijson

from bot.buddy.models import Execution
from bot.buddy.refs import BuddyRef, RefKind, find_references
from bot.report import RunReport
from bot.subscriptions.store import PipelineKey

log = logging.getLogger(__name__)

Source = Literal["webhook", "poll", "watch"]

_MB = 1024 * 1024
MAX_VALUE_BYTES = 4 * _MB  # one log line longer than this is refused (the parser would hold it whole)
MAX_KEPT_BYTES = 8 * _MB  # a run without its logs is kilobytes; this bounds a delivery made of something else
_KEPT_EVENT_BYTES = 100  # roughly what keeping one parsed value costs besides its text
# Chunks are parsed in pieces of this size: the parser scans a value that spans pieces again with
# each piece, so small pieces make a long value cost time in the square of its length.
_PIECE = _MB
_EXECUTION = "execution"
_IN_EXECUTION = "execution."
_LOG = "execution.action_executions.item.log"
_IN_LOG = _LOG + "."
_LOG_LINE = _LOG + ".item"


@dataclass(frozen=True)
class RunEvent:
    pipeline: PipelineKey
    run_url: str  # the run's web URL in one canonical form: its identity, whoever saw it
    execution: Execution  # without logs
    source: Source

    @property
    def status(self) -> str:
        return (self.execution.status or "UNKNOWN").upper()

    @property
    def finished(self) -> bool:
        return self.execution.is_finished

    @property
    def finished_at(self) -> datetime | None:
        finish = self.execution.finish_date
        # Buddy sends UTC; a date without a zone must not be read in the bot's local time.
        return finish.replace(tzinfo=timezone.utc) if finish is not None and finish.tzinfo is None else finish

    @property
    def branch(self) -> str:
        branch = self.execution.branch
        return (branch.name if branch is not None else None) or ""

    @property
    def run_order(self) -> int:
        """Buddy numbers a pipeline's runs 1, 2, 3…: a higher number is a newer run."""
        return self.execution.id or 0

    @property
    def ref(self) -> BuddyRef:
        """The run for a lookup: by the API's number when known (no scan of the executions list)."""
        key = self.pipeline
        run_id = str(self.execution.id) if self.execution.id is not None else self.run_url.rsplit("/", 1)[-1]
        return BuddyRef(key.host, key.workspace, key.project, key.pipeline_id, run_id)


class WebhookReader:
    """One delivery, fed chunk by chunk as it arrives; keeps ``execution`` without the actions' logs.

    ``feed`` and ``finish`` answer why the delivery must be refused (something in it too large to
    hold), or None; ``finish`` also gives the run that was kept.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._events = ijson.sendable_list()
        self._parser = ijson.parse_coro(self._events, use_float=True)
        self._run = ijson.ObjectBuilder()
        self._kept_bytes = 0
        self._since_quote = 0
        self._escape_goes_on = False
        self._junk = False

    def feed(self, chunk: bytes) -> str | None:
        self._pending += chunk
        while len(self._pending) >= _PIECE:
            piece = bytes(self._pending[:_PIECE])
            del self._pending[:_PIECE]
            if (refusal := self._parse(piece)) is not None:
                return refusal
        return None

    def finish(self) -> tuple[dict[str, Any] | None, str | None]:
        """After the last chunk: the run kept (None for push events and junk), and why to refuse the delivery."""
        if (refusal := self._parse(bytes(self._pending))) is not None:
            return None, refusal
        if not self._junk:
            try:
                self._parser.close()  # raises when the body ended in the middle of the JSON
            except ijson.JSONError:
                self._junk = True
        if self._junk:
            log.info("webhook delivery is not JSON; ignored")
            return None, None
        run = self._run.value
        return (run if isinstance(run, dict) else None), None

    def _parse(self, piece: bytes) -> str | None:
        if self._junk:
            return None  # nothing is parsed, so nothing is held: the rest is only counted
        if not self._value_fits(piece):
            return f"one value in it runs over {MAX_VALUE_BYTES // _MB} MB"
        try:
            self._parser.send(piece)
        except ijson.JSONError:
            self._junk = True
        for prefix, event, value in self._events:
            if prefix == _LOG_LINE or prefix == _LOG or prefix.startswith(_IN_LOG):
                continue  # a log line is seen and dropped, never kept
            if prefix == _EXECUTION or prefix.startswith(_IN_EXECUTION):
                self._run.event(event, value)
                self._kept_bytes += _KEPT_EVENT_BYTES + (len(value) if isinstance(value, str) else 0)
        del self._events[:]
        if self._kept_bytes > MAX_KEPT_BYTES:
            return f"its run, without the logs, runs over {MAX_KEPT_BYTES // _MB} MB"
        return None

    def _value_fits(self, piece: bytes) -> bool:
        """The parser holds a value whole until it ends, so the bytes since the last string delimiter
        are counted: a value (one huge log line) longer than MAX_VALUE_BYTES is refused, not held."""
        if self._escape_goes_on:  # the last piece ended on a backslash: this byte is escaped
            piece, self._since_quote, self._escape_goes_on = piece[1:], self._since_quote + 1, False
        if b"\\" in piece:
            # Only the escapes \\ and \" can hide a delimiter; blanked (in pairs, left to right, as JSON
            # reads them), every quote left delimits a string.
            piece = piece.replace(b"\\\\", b"ee").replace(b'\\"', b"ee")
            self._escape_goes_on = piece.endswith(b"\\")
        first = piece.find(b'"')
        if first < 0:
            self._since_quote += len(piece)
            return self._since_quote <= MAX_VALUE_BYTES
        # Two delimiters within one piece are fewer than _PIECE bytes apart, under the bound.
        fits = self._since_quote + first <= MAX_VALUE_BYTES
        self._since_quote = len(piece) - 1 - piece.rfind(b'"')
        return fits


def webhook_event(execution: dict[str, Any], *, hosts: Iterable[str] = ()) -> RunEvent | None:
    """The run a delivery's kept ``execution`` is about, or None when it links to no run on a known host."""
    model = Execution.model_validate(execution)
    ref = _run_ref(model.html_url, hosts)
    if ref is None:
        log.info("webhook delivery without a run link on a known Buddy host; ignored")
        return None
    return RunEvent(_pipeline_of(ref), ref.web_url, model, "webhook")


def polled_event(pipeline: PipelineKey, execution: Execution, *, hosts: Iterable[str] = ()) -> RunEvent | None:
    """A run from the pipeline's executions list; None when its link is missing or names another pipeline."""
    ref = _run_ref(execution.html_url, hosts)
    if ref is None or _pipeline_of(ref).folded != pipeline.folded:
        return None
    return RunEvent(_pipeline_of(ref), ref.web_url, execution, "poll")


def watched_event(report: RunReport) -> RunEvent | None:
    """A run as the live-status watch last saw it (for keeping its announcement current)."""
    execution, ref = report.execution, report.ref
    if execution is None:
        return None
    run_url = execution.html_url or ref.web_url
    found = _run_ref(run_url, (ref.host,))
    return RunEvent(_pipeline_of(ref), found.web_url if found else run_url, execution, "watch")


def _run_ref(html_url: str | None, hosts: Iterable[str]) -> BuddyRef | None:
    if not html_url:
        return None
    found = find_references(html_url, hosts=hosts, limit=1).refs
    if not found or found[0].kind is not RefKind.EXECUTION:
        return None
    return found[0]


def _pipeline_of(ref: BuddyRef) -> PipelineKey:
    return PipelineKey(ref.host, ref.workspace, ref.project, ref.pipeline_id)
