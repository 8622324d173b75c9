"""Pydantic models of Buddy's API responses.

Every field is optional and lenient: Buddy returns ``null`` for empty fields, adds fields and statuses
over time, and older or self-hosted installations miss some. A value of the wrong type becomes
``None`` (or is dropped from a list) instead of failing the whole response, so a summary can always
show what is known.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, WrapValidator

# Statuses after which nothing changes any more.
FINAL_STATUSES = frozenset({"SUCCESSFUL", "FAILED", "TERMINATED", "SKIPPED", "NOT_EXECUTED"})
FAILED_STATUSES = frozenset({"FAILED", "TERMINATED"})


def _or_none(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _valid_items(value: Any, handler: Any) -> Any:
    """Keep the items of a list that validate; anything that is not a list becomes []."""
    if not isinstance(value, list):
        return []
    kept = []
    for item in value:
        try:
            kept.extend(handler([item]))
        except ValidationError:
            continue
    return kept


def _lines(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return ["" if line is None else str(line) for line in value]


Lenient = WrapValidator(_or_none)
Str = Annotated[str | None, Lenient]
Int = Annotated[int | None, Lenient]
Num = Annotated[float | None, Lenient]
Bool = Annotated[bool | None, Lenient]
# On a list: keeps the items that validate (``Annotated[list[Model], ValidItems]``).
ValidItems = WrapValidator(_valid_items)


def _aware(value: Any, handler: Any) -> Any:
    """Buddy's dates are UTC; one without a zone is read as UTC so durations can always be computed."""
    parsed = _or_none(value, handler)
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed


Date = Annotated[datetime | None, WrapValidator(_aware)]
# None where the response carried no list at all (newer installations leave the log out of the details).
Lines = Annotated[list[str] | None, WrapValidator(lambda v, _h: _lines(v))]


class BuddyModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Person(BuddyModel):
    url: Str = None
    html_url: Str = None
    id: Int = None
    name: Str = None
    title: Str = None  # a commit's author in webhook deliveries has a title (the name shown) and an email
    email: Str = None
    avatar_url: Str = None


class Variable(BuddyModel):
    key: Str = None
    value: Str = None
    type: Str = None
    encrypted: Bool = None
    secret: Bool = None
    description: Str = None

    @property
    def marked_secret(self) -> bool:
        return bool(self.encrypted or self.secret) or (self.type or "").upper() in {"SSH_KEY", "SECRET"}


class ActionVariable(BuddyModel):
    id: Int = None
    key: Str = None
    type: Str = None
    description: Str = None
    defaults: Str = None
    encrypted: Bool = None


class Action(BuddyModel):
    url: Str = None
    html_url: Str = None
    id: Int = None
    name: Str = None
    type: Str = None
    trigger_time: Str = None
    last_execution_status: Str = None
    disabled: Bool = None
    ignore_errors: Bool = None
    run_next: Str = None
    variables: Annotated[list[ActionVariable], ValidItems] = []


class Revision(BuddyModel):
    url: Str = None
    html_url: Str = None
    revision: Str = None
    short_revision: Str = None
    message: Str = None
    committer: Annotated[Person | None, Lenient] = None
    author: Annotated[Person | None, Lenient] = None

    @property
    def short(self) -> str | None:
        return self.short_revision or (self.revision[:7] if self.revision else None)


class Branch(BuddyModel):
    url: Str = None
    html_url: Str = None
    name: Str = None


def _branch(value: Any, handler: Any) -> Any:
    """Old webhook payloads send the branch as a plain string."""
    if isinstance(value, str):
        value = {"name": value}
    return _or_none(value, handler)


class Pipeline(BuddyModel):
    url: Str = None
    html_url: Str = None
    id: Int = None
    name: Str = None
    identifier: Str = None
    ref_name: Str = None
    ref_type: Str = None  # BRANCH, TAG, WILDCARD, PULL_REQUEST (older installations)
    # Newer installations: the refs it runs on ("refs/heads/main", "refs/heads/feature/*").
    refs: Annotated[
        list[str], WrapValidator(lambda v, _h: [str(r) for r in v if isinstance(r, str)] if isinstance(v, list) else [])
    ] = []
    last_execution_status: Str = None


class RunState(BuddyModel):
    """What executions and action executions share: a status and a time span."""

    url: Str = None
    html_url: Str = None
    status: Str = None
    start_date: Date = None
    finish_date: Date = None

    @property
    def is_finished(self) -> bool:
        # Buddy adds statuses (WAITING_FOR_APPLY, ...): an unknown one is still running until it has a finish date.
        return self.finish_date is not None or (self.status or "").upper() in FINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.start_date is None or self.finish_date is None:
            return None
        return max(0.0, (self.finish_date - self.start_date).total_seconds())


class ActionExecution(RunState):
    action_execution_id: Str = None
    progress: Num = None  # percent; newer installations send fractions (42.5)
    action: Annotated[Action | None, Lenient] = None
    log: Lines = None
    approver_id: Int = None
    approval_date: Date = None
    passed_variables: Annotated[list[Variable], ValidItems] = []
    outputted_variables: Annotated[list[Variable], ValidItems] = []
    error_message: Str = None
    # Who stopped the run and when. Buddy sends the member's id; the lookup fills in ``terminated_by``.
    terminator_id: Int = None
    termination_date: Date = None
    terminated_by: Annotated[Person | None, Lenient] = None
    log_url: Str = None

    @property
    def id_from_url(self) -> str | None:
        """The action execution id: a field in lists, else the last segment of the API url."""
        if self.action_execution_id:
            return self.action_execution_id
        if self.url and "/action_executions/" in self.url:
            return self.url.rstrip("/").rsplit("/", 1)[-1]
        return None


class Execution(RunState):
    id: Int = None
    triggered_on: Str = Field(default=None, validation_alias=AliasChoices("triggered_on", "triggeredOn"))
    mode: Str = None
    priority: Str = None
    refresh: Bool = None
    comment: Str = None
    branch: Annotated[Branch | None, WrapValidator(_branch)] = None
    from_revision: Annotated[Revision | None, Lenient] = None
    to_revision: Annotated[Revision | None, Lenient] = None
    creator: Annotated[Person | None, Lenient] = None
    pipeline: Annotated[Pipeline | None, Lenient] = None
    action_executions: Annotated[list[ActionExecution], ValidItems] = []

    @property
    def web_id(self) -> str | None:
        """The id in the web URL (hex on cloud), which is not the API's integer id."""
        if not self.html_url:
            return None
        return self.html_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class ExecutionList(BuddyModel):
    page: Int = None
    page_size: Int = None
    total_page_count: Int = None
    element_count: Int = None
    total_element_count: Int = None
    executions: Annotated[list[Execution], ValidItems] = []


class LogPage(BuddyModel):
    offset: Int = None
    element_count: Int = None
    total_element_count: Int = None
    logs: Lines = None


class Member(Person):
    admin: Bool = None


class TokenInfo(BuddyModel):
    name: Str = None
    expires_at: Date = None
    scopes: Annotated[list[str], WrapValidator(lambda v, _h: [str(s) for s in v] if isinstance(v, list) else [])] = []
    ip_restrictions: Lines = None
    workspace_restrictions: Lines = None
