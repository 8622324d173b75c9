"""The four operations on a run (Buddy's ``PATCH …/executions/:id`` with ``{"operation": …}``), which
a run offers by its status, and how each moves a run along.

    status                                              offers              Buddy's operation
    WAITING_FOR_APPLY                                   Approve             APPLY
    WAITING_FOR_VARIABLES, WAITING_FOR_SETTABLE_VARIABLES Provide variables APPLY_VARIABLES (+ variables)
    FAILED, TERMINATED                                  Retry               RETRY
    ENQUEUED, INITIAL, INPROGRESS, WAITING_FOR_VT_SESSION Cancel            CANCEL

A run's status here is its execution's, except that an action waiting for approval or variables
makes the whole run wait for it (Buddy may report such a run as in progress). TERMINATING, a status
Buddy adds, or one it adds later offers nothing.

Newer docs add ``SET_VARIABLES`` and ``approve_action_id``: the bot names the action to approve only
when several wait at once (then Buddy must be told which), and sends ``SET_VARIABLES`` only after
Buddy refused ``APPLY_VARIABLES`` for a run waiting for settable variables. Everywhere else the four
documented operations are sent as they are documented, so older installations keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.buddy.models import FINAL_STATUSES, Execution
from bot.report import RunReport

APPLY_WAIT = "WAITING_FOR_APPLY"
VARIABLES_WAIT = "WAITING_FOR_VARIABLES"
SETTABLE_VARIABLES_WAIT = "WAITING_FOR_SETTABLE_VARIABLES"
WAITS = (APPLY_WAIT, VARIABLES_WAIT, SETTABLE_VARIABLES_WAIT)
STOPPING = frozenset({"TERMINATING", "TERMINATED"})
# Scopes that allow these operations: EXECUTION_RUN everywhere; PIPELINE_RUN is its newer name.
SET_VARIABLES = "SET_VARIABLES"


@dataclass(frozen=True)
class Operation:
    name: str  # as the audit trail names it
    buddy: str  # Buddy's ``operation``
    label: str  # the button
    done: str  # "Approved" (by @ana at …)
    doing: str  # "being approved"
    verb: str  # "approve" (you may not approve this run)
    note: str  # "approved this run" (@ana approved this run)
    offered_on: frozenset[str]


APPROVE = Operation(
    "approve", "APPLY", "Approve", "Approved", "being approved", "approve", "approved this run", frozenset({APPLY_WAIT})
)
PROVIDE_VARIABLES = Operation(
    "variables",
    "APPLY_VARIABLES",
    "Provide variables",
    "Variables provided",
    "being given its variables",
    "provide variables for",
    "provided this run's variables",
    frozenset({VARIABLES_WAIT, SETTABLE_VARIABLES_WAIT}),
)
RETRY = Operation(
    "retry", "RETRY", "Retry", "Retried", "being retried", "retry", "retried this run", frozenset({"FAILED", "TERMINATED"})
)
CANCEL = Operation(
    "cancel",
    "CANCEL",
    "Cancel",
    "Cancelled",
    "being cancelled",
    "cancel",
    "cancelled this run",
    frozenset({"ENQUEUED", "INITIAL", "INPROGRESS", "WAITING_FOR_VT_SESSION"}),
)
OPERATIONS = (APPROVE, PROVIDE_VARIABLES, RETRY, CANCEL)
BY_NAME = {operation.name: operation for operation in OPERATIONS}


def offered(status: str) -> list[Operation]:
    """The operations a run in ``status`` offers (at most one of each, in the table's order)."""
    return [operation for operation in OPERATIONS if status.upper() in operation.offered_on]


def run_status(execution: Execution | None, action_status: str | None = None) -> str:
    """The run's status as the operations see it; ``action_status`` when the execution is unknown."""
    if execution is not None:
        waiting = {(action.status or "").upper() for action in execution.action_executions}
        for wait in WAITS:
            if wait in waiting:
                return wait
        if execution.status:
            return execution.status.upper()
    return (action_status or "").upper()


@dataclass(frozen=True)
class Snapshot:
    """What the bot read of a run just before acting on it (kept as the unit's effect, so a take-over
    compares the run with what it was before the first attempt acted)."""

    execution_id: int
    status: str
    finished: str | None  # the finish date, as ISO text; a retried run that ended again has another
    waiting: tuple[str, ...] = ()  # the action executions waiting for approval or variables
    approver: str | None = None  # who approved the shown action, and when, where Buddy says
    approved_at: str | None = None

    @classmethod
    def of(cls, report: RunReport) -> Snapshot | None:
        """None when the lookup could not read the execution itself (no id to act on)."""
        execution = report.execution
        if execution is None or execution.id is None:
            return None
        status = run_status(execution, report.action.status if report.action is not None else None)
        waiting = [
            action
            for action in execution.action_executions
            if (action.status or "").upper() == status and status in WAITS and action.id_from_url
        ]
        shown = report.action
        approved = shown.approval_date if shown is not None else None
        return cls(
            execution_id=execution.id,
            status=status,
            finished=execution.finish_date.isoformat() if execution.finish_date else None,
            waiting=tuple(str(action.id_from_url) for action in waiting),
            approver=report.approver_name if shown is not None and shown.approver_id is not None else None,
            approved_at=approved.isoformat() if approved is not None else None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "finished": self.finished,
            "waiting": list(self.waiting),
            "approver": self.approver,
            "approved_at": self.approved_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            execution_id=int(data["execution_id"]),
            status=str(data["status"]),
            finished=data.get("finished"),
            waiting=tuple(data.get("waiting") or ()),
            approver=data.get("approver"),
            approved_at=data.get("approved_at"),
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


def target(before: Snapshot, clicked_action: str | None) -> str | None:
    """The action execution to approve, named only when several wait (Buddy must then be told which):
    the one the button named, else the first."""
    if len(before.waiting) < 2:
        return None
    return clicked_action if clicked_action in before.waiting else before.waiting[0]


def body(operation: Operation, before: Snapshot, *, clicked_action: str | None, variables: Sequence[dict[str, str]]) -> dict:
    """The PATCH body: as documented, plus ``approve_action_id`` where the run needs it."""
    sent: dict[str, Any] = {"operation": operation.buddy}
    if operation is PROVIDE_VARIABLES:
        sent["variables"] = [dict(variable) for variable in variables]
    chosen = target(before, clicked_action) if operation in (APPROVE, PROVIDE_VARIABLES) else None
    if chosen is not None:
        sent["approve_action_id"] = chosen
    return sent


def moved(operation: Operation, before: Snapshot, now: Snapshot, *, clicked_action: str | None) -> bool:
    """Whether the run went on the way ``operation`` moves it since ``before``: a take-over then
    knows the write landed before the crash, and does not send it again."""
    if operation in (APPROVE, PROVIDE_VARIABLES):
        if now.status in STOPPING:
            return False  # cancelled meanwhile: the write is sent, and Buddy says the run ended
        chosen = target(before, clicked_action)
        watched = (chosen,) if chosen is not None else before.waiting
        # By the actions that waited: the run may wait again later, at another action.
        still_waiting = any(action in now.waiting for action in watched) if watched else now.status == before.status
        return not still_waiting
    if operation is RETRY:
        return now.status != before.status or now.finished != before.finished
    return now.status in STOPPING


NOT_WAITING, ENDED, STILL_GOING, SUCCEEDED = "not_waiting", "ended", "still_going", "succeeded"


def refusal(operation: Operation, before: Snapshot) -> str | None:
    """Why a run in this state cannot take ``operation`` (one of the reasons above), or None."""
    allowed = operation.offered_on | frozenset(WAITS) if operation is CANCEL else operation.offered_on
    if before.status in allowed:  # a run that went on to wait for someone may still be cancelled
        return None
    if operation is RETRY:
        return SUCCEEDED if before.is_final else STILL_GOING
    if before.is_final or before.status in STOPPING:
        return ENDED
    return NOT_WAITING
