"""One action on a run, from a click to Buddy's answer: whose token, done once, audited.

The steps, each safe to run again when a unit of work is taken over after a crash:

1. Whose token: the person's own linked account (Buddy's permissions decide, approval permissions
   included), or the bot's for the people ACT_WITH_BOT_TOKEN_FOR lists (the caller says which).
2. The run as it is now (``act:before``, kept as the unit's effect): a run that stopped waiting
   between the message and the click is refused here, saying why, without a write.
3. The (run, operation) lock (``bot.actions.locks``): a second click gets who is on it.
4. The write (``act:patch``), through ``WorkQueue.effect``: recorded once done, never repeated. A
   unit taken over with the write unrecorded first reads the run again: if it moved the way the
   operation moves it (``operations.moved``), the write landed before the crash and is recorded as
   done without being sent again.
5. The audit row, whatever the outcome (one per unit), then the lock is let go (or kept 10 s).
   Showing the run as it is now is the caller's (it knows what the message shows).

No Slack code: the outcome is rendered by ``bot.render.actions``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from bot.actions.audit import DONE, FAILED, REFUSED, AuditTrail
from bot.actions.locks import ActionLocks, lock_key
from bot.actions.operations import (
    PROVIDE_VARIABLES,
    SET_VARIABLES,
    SETTABLE_VARIABLES_WAIT,
    Snapshot,
    body,
    moved,
    refusal,
    run_status,
)
from bot.actions.outcome import (
    BUDDY,
    BUSY,
    EXPIRED,
    FORBIDDEN,
    NO_KEY,
    NO_SCOPE,
    NOT_LINKED,
    REJECTED,
    STORE,
    UNKNOWN,
    UNREADABLE,
    ActRequest,
    Outcome,
)
from bot.answers import Responder
from bot.buddy import errors
from bot.buddy.refs import BuddyRef
from bot.explain import explain
from bot.identity.credentials import Identity, LinkExpired, NotLinked
from bot.identity.personal import ACTING_SCOPES, lacks_acting_scope
from bot.identity.vault import VaultLocked
from bot.lookup import Lookup
from bot.state.store import StateStore, StateUnavailable
from bot.work.queue import Result, Unit, WorkQueue

log = logging.getLogger(__name__)


class RunActions:
    def __init__(
        self,
        responder: Responder,
        identity: Identity,
        work: WorkQueue,
        state: StateStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.responder = responder
        self.identity = identity
        self.work = work
        self.clock = clock
        self.locks = ActionLocks(state, clock=clock)
        self.audit = AuditTrail(state, clock=clock)

    async def act(self, unit: Unit, request: ActRequest) -> Outcome:
        taken: list[str] = []  # the lock's key, once this unit holds it
        try:
            outcome = await self._act(unit, request, taken)
        except Exception:
            await self._let_go(taken, unit, keep=False)  # a fault nobody foresaw: nobody waits minutes for it
            raise
        # A write Buddy may have applied (it did, or its answer never came) keeps others off for a while.
        await self._let_go(taken, unit, keep=outcome.result == DONE or outcome.reason == UNKNOWN)
        try:
            await self.audit.record(
                unit_id=unit.id,
                person=request.person,
                buddy_user=outcome.buddy_user,
                action=request.operation.name,
                ref=request.run_ref,
                run_url=request.run_ref.web_url,
                result=outcome.result,
                detail=outcome.reason if not outcome.said else f"{outcome.reason}: {outcome.said}",
                execution_id=outcome.execution_id,
            )
        except StateUnavailable as exc:
            log.warning("%s of %s by %s not audited: %s", request.operation.name, request.ref.web_url, request.person.user, exc)
        return outcome

    async def _let_go(self, taken: list[str], unit: Unit, *, keep: bool) -> None:
        if not taken:
            return
        try:
            if keep:
                await self.locks.done(taken[0], unit.id)
            else:
                await self.locks.release(taken[0], unit.id)
        except StateUnavailable as exc:
            log.warning("the lock %s is left to run out: %s", taken[0], exc)

    async def credential(self, request: ActRequest) -> Credential | Outcome:
        """The token to act with (None: the bot's), or the refusal: not linked, expired, no scope."""
        if request.with_bot_token:
            return Credential(None, None)
        try:
            account = await self.identity.usable(request.person, request.ref.host)
        except LinkExpired:
            return Outcome(request, REFUSED, EXPIRED)
        except NotLinked:
            return Outcome(request, REFUSED, NOT_LINKED)
        except VaultLocked as exc:
            return Outcome(request, REFUSED, NO_KEY, said=str(exc))
        except StateUnavailable:
            return Outcome(request, REFUSED, STORE)
        except errors.BuddyError as exc:  # its token ran out, and Buddy could not be asked for another
            return Outcome(request, FAILED, BUDDY, said=explain(exc, request.ref))
        if lacks_acting_scope(account.scopes):
            return Outcome(request, REFUSED, NO_SCOPE, acted_as=account.buddy_user_name)
        return Credential(account.token, account.buddy_user_name)

    async def reader(self, request: ActRequest) -> Lookup:
        """The lookup the run is read with: the person's under READ_AS_ASKER (linked by now), else the
        shared one."""
        responder = request.responder or self.responder
        if request.with_bot_token:
            return responder.lookup
        return await responder.reader(request.person, request.ref.host)

    async def _act(self, unit: Unit, request: ActRequest, taken: list[str]) -> Outcome:
        """The outcome; ``taken`` gets the lock's key once this unit holds it."""
        credential = await self.credential(request)
        if isinstance(credential, Outcome):
            return credential
        token, acted_as = credential
        lookup = await self.reader(request)
        try:
            before = Snapshot.from_json(await self.work.effect(unit, "act:before", lambda: self._snapshot(lookup, request.ref)))
        except _Unreadable:
            return Outcome(request, FAILED, UNREADABLE, acted_as=acted_as)
        except errors.BuddyError as exc:
            return Outcome(request, FAILED, BUDDY, acted_as=acted_as, said=explain(exc, request.ref))
        if reason := refusal(request.operation, before):
            return self._refused(request, reason, before, acted_as)
        ref = request.ref
        key = lock_key(ref.host, ref.workspace, ref.project, ref.pipeline_id, before.execution_id, request.operation.name)
        try:
            holder = await self.locks.take(key, unit.id)
        except StateUnavailable:
            return Outcome(request, REFUSED, STORE, acted_as=acted_as)
        if holder is not None:
            return Outcome(request, REFUSED, BUSY, acted_as=acted_as, holder=holder, execution_id=before.execution_id)
        taken.append(key)

        async def send() -> Result:
            return await self._send(request, before, token)

        async def find() -> Result | None:
            now = await self._now(lookup, ref)
            if now is None or not moved(request.operation, before, now, clicked_action=ref.action_execution_id):
                return None
            return {"ok": True, "status": now.status, "at": self.clock(), "found": True}

        sent = await self.work.effect(unit, "act:patch", send, find=find)
        common: dict[str, Any] = dict(acted_as=acted_as, execution_id=before.execution_id)
        if not sent.get("ok"):
            reason, said = str(sent.get("reason") or BUDDY), str(sent.get("said") or "")
            if (
                reason == REJECTED
                and (now := await self._now(lookup, ref)) is not None
                and (why := refusal(request.operation, now))
            ):
                return self._refused(request, why, now, acted_as)  # Buddy saw the run move on before the bot did
            return Outcome(request, FAILED if reason in (UNKNOWN, BUDDY) else REFUSED, reason, said=said, **common)
        status = str(sent.get("status") or "")
        return Outcome(request, DONE, "done", status=status, at=float(sent.get("at") or self.clock()), **common)

    async def _snapshot(self, lookup: Lookup, ref: BuddyRef) -> Result:
        snapshot = Snapshot.of(await lookup.report(ref, fresh=True))
        if snapshot is None:
            raise _Unreadable(ref.web_url)
        return snapshot.as_json()

    async def _now(self, lookup: Lookup, ref: BuddyRef) -> Snapshot | None:
        """The run read again; None when Buddy does not say (the caller then goes on without it)."""
        try:
            return Snapshot.of(await lookup.report(ref, fresh=True))
        except errors.BuddyError as exc:
            log.info("%s not read again (%s)", ref.web_url, type(exc).__name__)
            return None

    async def _send(self, request: ActRequest, before: Snapshot, token: str | None) -> Result:
        """The write, once; what Buddy answered, as a result the unit records (a refusal too, so a
        take-over does not send a write Buddy already refused). A write Buddy refused (400, 401)
        changed nothing, so it may be sent once more in another form or with a refreshed token."""
        ref = request.ref
        sent = body(request.operation, before, clicked_action=ref.action_execution_id, variables=_variables(request))

        async def patch(operation: dict[str, Any], token: str | None) -> Result:
            client = (request.responder or self.responder).lookup.client  # the workspace's own, for its bot token
            after = await client.operate_execution(
                ref.host, ref.workspace, ref.project, ref.pipeline_id, before.execution_id, operation, token=token
            )
            return {"ok": True, "status": run_status(after), "at": self.clock()}

        async def patch_as_documented(token: str | None) -> Result:
            try:
                return await patch(sent, token)
            except errors.Rejected:
                # Newer installations may want SET_VARIABLES for settable variables.
                if request.operation is not PROVIDE_VARIABLES or before.status != SETTABLE_VARIABLES_WAIT:
                    raise
                return await patch({**sent, "operation": SET_VARIABLES}, token)

        try:
            try:
                return await patch_as_documented(token)
            except errors.Unauthorized:
                if token is None:
                    raise
                # The person's token was refused: one refresh is tried (OAuth), else they link again.
                try:
                    account = await self.identity.refused(request.person, ref.host, token)
                except LinkExpired:
                    return {"ok": False, "reason": EXPIRED}
                return await patch_as_documented(account.token)
        except errors.Unauthorized as exc:
            return {"ok": False, "reason": EXPIRED} if token else {"ok": False, "reason": BUDDY, "said": explain(exc, ref)}
        except errors.Forbidden as exc:
            return {"ok": False, "reason": NO_SCOPE if _names_the_scope(exc.message) else FORBIDDEN, "said": exc.message}
        except errors.Rejected as exc:
            return {"ok": False, "reason": REJECTED, "said": exc.message}
        except errors.Unavailable as exc:
            return {"ok": False, "reason": UNKNOWN, "said": exc.message}
        except errors.BuddyError as exc:
            return {"ok": False, "reason": BUDDY, "said": explain(exc, ref)}

    def _refused(self, request: ActRequest, reason: str, run: Snapshot, acted_as: str | None) -> Outcome:
        return Outcome(
            request,
            REFUSED,
            reason,
            acted_as=acted_as,
            status=run.status,
            approver=run.approver,
            approved_at=run.approved_at,
            execution_id=run.execution_id,
        )


class Credential(NamedTuple):
    token: str | None  # None: the bot's own
    acted_as: str | None  # the Buddy user's name


class _Unreadable(Exception):
    """The lookup found no execution to act on (its details could not be read)."""


def _variables(request: ActRequest) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in request.variables]


def _names_the_scope(message: str) -> bool:
    """Buddy's 403 for a token without the scope names it ("… permission to EXECUTION_RUN")."""
    upper = message.upper()
    return any(scope in upper for scope in ACTING_SCOPES) or "SCOPE" in upper
