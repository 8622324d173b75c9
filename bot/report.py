"""What one answer is made of: everything the lookup gathered for one reference, ready to render."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef, RefKind
from bot.why.model import Why

# What may go into a reference (and so into an API path) from Buddy's own answer.
_ID = re.compile(r"[A-Za-z0-9]{1,64}")


@dataclass(frozen=True)
class RunReport:
    """One Buddy run as the bot will show it.

    ``action`` is the action execution worth showing: the one the link named, else the failed one,
    else the running one, else the last one. ``actions`` lists all actions of the execution, for the
    overview of an execution link. ``log_tail`` holds the last lines of ``action``'s log, raw (ANSI
    codes not yet stripped); ``log_total_lines`` how many the whole log has, when known.
    ``notes`` are short remarks on what could not be fetched ("execution details unavailable: …").
    ``why`` is why ``action`` failed (``bot.why``): for a failed action whose log's last
    ``WHY_MAX_LINES`` lines show an error or failed tests; None otherwise.
    """

    ref: BuddyRef
    action: ActionExecution | None
    execution: Execution | None
    approver_name: str | None = None
    log_tail: list[str] = field(default_factory=list)
    log_total_lines: int | None = None
    actions: list[ActionExecution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    why: Why | None = None

    @property
    def web_url(self) -> str:
        """Where to open this run in Buddy: Buddy's own link when it gave one, else one built from the ref."""
        if self.action is not None and self.action.html_url:
            return self.action.html_url
        if self.execution is not None and self.execution.html_url:
            return self.execution.html_url
        return self.ref.web_url

    @property
    def is_finished(self) -> bool:
        """Whether the linked thing is over: the action for an action link, else the whole execution
        (its action worth showing may be done while the next one has yet to start)."""
        if self.ref.kind is not RefKind.ACTION_EXECUTION and self.execution is not None:
            return self.execution.is_finished
        target = self.action if self.action is not None else self.execution
        return target is not None and target.is_finished

    @property
    def run_ref(self) -> BuddyRef:
        """This very run: a pipeline reference (its latest run) pinned to the execution it found, so a
        later look (Refresh, a watch) shows the same run even after a newer one starts."""
        if self.ref.execution_id is not None or self.execution is None:
            return self.ref
        execution_id = self.execution.web_id or (str(self.execution.id) if self.execution.id is not None else "")
        return replace(self.ref, execution_id=execution_id) if _ID.fullmatch(execution_id) else self.ref

    @property
    def action_ref(self) -> BuddyRef | None:
        """The shown action's own reference (its log is read through it); None when no action is shown."""
        run = self.run_ref
        action_id = self.action.id_from_url if self.action is not None else None
        if run.execution_id is None or not action_id or not _ID.fullmatch(action_id):
            return None
        return replace(run, action_execution_id=action_id)
