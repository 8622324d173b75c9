"""The facts an answer shows, picked out of a RunReport once so that every format shows the same.

Values are raw (as Buddy sent them): each renderer cleans, escapes and cuts them for its medium.
Secret variable values are masked here, so no renderer can forget to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.buddy.models import ActionExecution, Variable
from bot.buddy.refs import RefKind
from bot.render.mrkdwn import is_web_url
from bot.render.status import StatusStyle, status_style
from bot.render.timing import as_utc, run_duration
from bot.report import RunReport
from bot.why.model import Why

MASK = "••••••"
# No answer lists more variables than this, so only these are masked and formatted.
MAX_SHOWN_VARIABLES = 50
MAX_CHECKED_KEY = 1000
# Statuses of a run that ended badly: its messages say why, and offer "I'm on it".
FAILURE_STATUSES = frozenset({"FAILED", "TERMINATED"})


@dataclass(frozen=True)
class Facts:
    status: StatusStyle
    title: str  # the action's name, else the pipeline's
    action_name: str | None
    action_type: str | None
    pipeline_name: str
    pipeline_url: str | None
    branch: str | None
    revision: str | None
    revision_url: str | None
    commit_title: str | None
    triggered_by: str | None
    progress: int | None  # whole percent, rounded down: 99.6 is not done yet
    started: datetime | None  # UTC
    finished: datetime | None
    duration: str | None
    approver: str | None
    approved_at: datetime | None
    terminated_by: str | None
    terminated_at: datetime | None
    passed: list[tuple[str, str]]  # (key, value or MASK), the first MAX_SHOWN_VARIABLES
    passed_count: int
    outputted: list[tuple[str, str]]
    outputted_count: int
    error: str | None
    notes: list[str]
    web_url: str  # where to open the run in Buddy
    workspace: str
    project: str
    pipeline_id: int
    why: Why | None  # the first error and the failed tests, when the finder looked (a failed action)

    @property
    def is_failure(self) -> bool:
        return self.status.code in FAILURE_STATUSES


def gather(report: RunReport, *, secret_key_regex: re.Pattern[str], now: datetime | None = None) -> Facts:
    action, execution, ref = report.action, report.execution, report.ref
    run = action if action is not None else execution
    definition = action.action if action is not None else None
    pipeline = execution.pipeline if execution is not None else None
    revision = execution.to_revision if execution is not None else None
    passed = action.passed_variables if action is not None else []
    outputted = action.outputted_variables if action is not None else []
    now = as_utc(now) or datetime.now(timezone.utc)
    return Facts(
        status=status_style(_status(report)),
        title=run_title(report),
        action_name=definition.name if definition is not None else None,
        action_type=definition.type if definition is not None else None,
        pipeline_name=_pipeline_name(report),
        pipeline_url=pipeline.html_url if pipeline is not None else None,
        branch=execution.branch.name if execution is not None and execution.branch is not None else None,
        revision=revision.short if revision is not None else None,
        revision_url=revision.html_url if revision is not None else None,
        commit_title=_first_line(revision.message) if revision is not None else None,
        triggered_by=execution.creator.name if execution is not None and execution.creator is not None else None,
        progress=_percent(action.progress) if action is not None else None,
        started=as_utc(run.start_date) if run is not None else None,
        finished=as_utc(run.finish_date) if run is not None else None,
        duration=run_duration(run, now) if run is not None else None,
        approver=_approver(report),
        approved_at=as_utc(action.approval_date) if action is not None else None,
        terminated_by=_terminator(action) if action is not None else None,
        terminated_at=as_utc(action.termination_date) if action is not None else None,
        passed=masked(passed[:MAX_SHOWN_VARIABLES], secret_key_regex),
        passed_count=len(passed),
        outputted=masked(outputted[:MAX_SHOWN_VARIABLES], secret_key_regex),
        outputted_count=len(outputted),
        error=action.error_message if action is not None else None,
        notes=list(report.notes),
        web_url=_web_url(report),
        workspace=ref.workspace,
        project=ref.project,
        pipeline_id=ref.pipeline_id,
        why=report.why,
    )


def _status(report: RunReport) -> str | None:
    """The shown action's status; but for a link to a whole run still going, between two actions
    (the one shown is done, the next not started), the run's: it is not over yet."""
    action, execution = report.action, report.execution
    run = action if action is not None else execution
    whole_run = report.ref.kind is not RefKind.ACTION_EXECUTION
    if whole_run and execution is not None and run is not None and run.is_finished and not execution.is_finished:
        return execution.status
    return run.status if run is not None else None


def run_title(report: RunReport) -> str:
    """What the run is called: its action's name, else its pipeline's."""
    action = report.action.action if report.action is not None else None
    return (action.name if action is not None else None) or _pipeline_name(report)


def _pipeline_name(report: RunReport) -> str:
    pipeline = report.execution.pipeline if report.execution is not None else None
    return (pipeline.name if pipeline is not None else None) or f"Pipeline {report.ref.pipeline_id}"


def is_secret(variable: Variable, secret_key_regex: re.Pattern[str]) -> bool:
    """Buddy marked it secret, or its key looks like one (API_TOKEN, db_password, …).

    A key longer than MAX_CHECKED_KEY counts as secret: no real key is that long, and searching
    megabytes for every variable shown would be slow; masking is the safe way to be wrong.
    """
    key = variable.key or ""
    if variable.marked_secret or len(key) > MAX_CHECKED_KEY:
        return True
    return secret_key_regex.search(key.upper()) is not None


def masked(variables: Sequence[Variable], secret_key_regex: re.Pattern[str]) -> list[tuple[str, str]]:
    return [
        (variable.key or "(no key)", MASK if is_secret(variable, secret_key_regex) else variable.value or "")
        for variable in variables
    ]


def _first_line(message: str | None) -> str | None:
    if not message or not message.strip():
        return None
    return message.strip().splitlines()[0]


def _web_url(report: RunReport) -> str:
    """Buddy's own link when it is a safe web URL, else the one built from the reference."""
    return report.web_url if is_web_url(report.web_url) else report.ref.web_url


def _percent(progress: float | None) -> int | None:
    if progress is None or not math.isfinite(progress):
        return None
    return math.floor(min(max(progress, 0.0), 100.0))


def _terminator(action: ActionExecution) -> str | None:
    """Who stopped the run: by name (Buddy's, or the members endpoint's through the lookup), else by id."""
    if action.terminated_by is not None and action.terminated_by.name:
        return action.terminated_by.name
    return f"user #{action.terminator_id}" if action.terminator_id is not None else None


def _approver(report: RunReport) -> str | None:
    if report.approver_name:
        return report.approver_name
    if report.action is not None and report.action.approver_id is not None:
        return f"user #{report.action.approver_id}"  # Buddy gave only the id; the lookup found no name
    return None
