"""An action asked for (``ActRequest``) and how it went (``Outcome``): what the core hands back for
``bot.render.actions`` to show."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.actions.locks import Holder
from bot.actions.operations import Operation
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson

if TYPE_CHECKING:  # bot.answers imports the renderers, which import this
    from bot.answers import Responder

BOT_TOKEN = "bot token"  # the audit's Buddy user for an action made with the bot's token

# Why an action was not done (besides the run's state: operations.NOT_WAITING, ENDED, STILL_GOING, SUCCEEDED).
NOT_LINKED, EXPIRED, NO_KEY, NO_SCOPE, FORBIDDEN = "not_linked", "expired", "no_key", "no_scope", "forbidden"
BUSY, STORE, REJECTED, UNKNOWN, BUDDY, UNREADABLE = "busy", "store", "rejected", "unknown", "buddy", "unreadable"


@dataclass(frozen=True)
class ActRequest:
    operation: Operation
    ref: BuddyRef  # the run (or its action) as the button names it
    person: SlackPerson
    with_bot_token: bool = False  # ACT_WITH_BOT_TOKEN_FOR lists the person
    variables: tuple[tuple[str, str], ...] = ()  # for Provide variables
    # The settings of the Slack workspace it came from (bot.tenancy): how its run is read, whose token
    # "the bot's" is. None: the environment's.
    responder: Responder | None = field(default=None, compare=False, repr=False)

    @property
    def run_ref(self) -> BuddyRef:
        return replace(self.ref, action_execution_id=None)


@dataclass(frozen=True)
class Outcome:
    request: ActRequest
    result: str  # DONE, REFUSED or FAILED (the audit's)
    reason: str  # "done", or why not (the constants above, or the run's state)
    acted_as: str | None = None  # the Buddy user's name; None with the bot's token or before it was known
    status: str = ""  # the run's status: when refused, as it was; when done, as Buddy answered
    said: str = ""  # Buddy's own words (or the bot's explanation) where there are some
    holder: Holder | None = None  # who is on it, for BUSY
    approver: str | None = None  # who approved it, where Buddy says (a run no longer waiting)
    approved_at: str | None = None
    at: float | None = None  # when the write was made (the same after a take-over)
    execution_id: int | None = None

    @property
    def operation(self) -> Operation:
        return self.request.operation

    @property
    def buddy_user(self) -> str:
        return BOT_TOKEN if self.request.with_bot_token else (self.acted_as or "")
