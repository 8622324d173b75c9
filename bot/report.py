"""What one answer is made of: everything the lookup gathered for one reference, ready to render."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef


@dataclass(frozen=True)
class RunReport:
    """One Buddy run as the bot will show it.

    ``action`` is the action execution worth showing: the one the link named, else the failed one,
    else the running one, else the last one. ``actions`` lists all actions of the execution, for the
    overview of an execution link. ``log_tail`` holds the last lines of ``action``'s log, raw (ANSI
    codes not yet stripped); ``log_total_lines`` how many the whole log has, when known.
    ``notes`` are short remarks on what could not be fetched ("execution details unavailable: …").
    """

    ref: BuddyRef
    action: ActionExecution | None
    execution: Execution | None
    approver_name: str | None = None
    log_tail: list[str] = field(default_factory=list)
    log_total_lines: int | None = None
    actions: list[ActionExecution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
        target = self.action if self.action is not None else self.execution
        return target is not None and target.is_finished
