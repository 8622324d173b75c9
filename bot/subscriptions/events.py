"""One shape for a run, whether Buddy pushed it (a workspace webhook) or the poller pulled it.

A webhook body is the execution model of Buddy's API under ``execution`` (buddy-webhooks.md §2.2),
without a field naming the event: the status tells a start (``INPROGRESS``, no finish date) from an
end. Push payloads have no ``execution`` and are ignored. Finished runs carry every action's whole
log inline; those logs are dropped as soon as the body is parsed, since the thread details come from
the API (the action worth showing and its tail), never from the payload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from bot.buddy.models import Execution
from bot.buddy.refs import BuddyRef, RefKind, find_references
from bot.report import RunReport
from bot.subscriptions.store import PipelineKey

log = logging.getLogger(__name__)

Source = Literal["webhook", "poll", "watch"]


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


def parse_webhook(body: bytes, *, hosts: Iterable[str] = ()) -> RunEvent | None:
    """The run a webhook delivery is about, or None for anything else (push events, junk, other hosts)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        log.info("webhook delivery is not JSON; ignored")
        return None
    execution = payload.get("execution") if isinstance(payload, dict) else None
    if not isinstance(execution, dict):
        return None  # PUSH and anything that is not about a run
    _drop_logs(execution)
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


def _drop_logs(execution: dict[str, Any]) -> None:
    for action in execution.get("action_executions") or []:
        if isinstance(action, dict):
            action.pop("log", None)


def _run_ref(html_url: str | None, hosts: Iterable[str]) -> BuddyRef | None:
    if not html_url:
        return None
    found = find_references(html_url, hosts=hosts, limit=1).refs
    if not found or found[0].kind is not RefKind.EXECUTION:
        return None
    return found[0]


def _pipeline_of(ref: BuddyRef) -> PipelineKey:
    return PipelineKey(ref.host, ref.workspace, ref.project, ref.pipeline_id)
