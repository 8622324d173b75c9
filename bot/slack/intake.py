"""Every Slack request worth answering becomes a unit of work before Bolt acknowledges it.

A global middleware, so it runs ahead of the listener and of the acknowledgement Bolt sends for
events on its own. The unit's key is what a redelivery shares with the first delivery: a slash
command's ``trigger_id`` (a replayed, validly signed body carries the same one), an event's message
(channel and ts: Slack's retries of it carry the same), a form's submission (its view id and hash:
only the forms listed in DURABLE_VIEWS; another form's values, a pasted token say, are not kept). A key seen before is acknowledged with an empty 200 and nothing else: it is being answered,
or was. The listener finds its unit in ``context["unit"]``.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.identity.vault import Vault
from bot.render.actions import VARIABLES_VIEW
from bot.render.blocks import OPEN_ACTION
from bot.slack.message_kinds import worth_answering
from bot.work.queue import Unit, WorkQueue

log = logging.getLogger(__name__)

COMMAND, MENTION, MESSAGE, LINK, CLICK, VIEW = "command", "mention", "message", "link_shared", "click", "view"
# Forms whose submission is a unit of work: Provide variables (it writes to Buddy).
DURABLE_VIEWS = frozenset({VARIABLES_VIEW})


def unit_key(body: dict[str, Any], *, reply_to_links: bool) -> tuple[str, str] | None:
    """(kind, key) of the work a request asks for, or None for one handled on the spot (or not at
    all: a person's message in a channel, an edit). A message that mentions the bot comes as two
    events: each is its own unit, and the message's claim lets one of them answer."""
    if body.get("command") and body.get("trigger_id"):
        return COMMAND, f"command:{body['trigger_id']}"
    if body.get("type") == "block_actions":
        action = (body.get("actions") or [{}])[0]
        if not isinstance(action, dict) or not action.get("action_ts") or action.get("action_id") == OPEN_ACTION:
            return None  # Open in Buddy is a link the browser follows: nothing to do but acknowledge
        where = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
        return CLICK, f"click:{where}:{action['action_ts']}:{(body.get('user') or {}).get('id')}"
    if body.get("type") == "view_submission":
        view = body.get("view") or {}
        if not isinstance(view, dict) or view.get("callback_id") not in DURABLE_VIEWS or not view.get("id"):
            return None
        return VIEW, f"view:{view['id']}:{view.get('hash') or ''}"
    event = body.get("event") if body.get("type") == "event_callback" else None
    if isinstance(event, dict) and event.get("type") == "link_shared":
        where = event.get("unfurl_id") or f"{event.get('channel')}:{event.get('message_ts')}"
        return LINK, f"link_shared:{where}"
    if not isinstance(event, dict) or "channel" not in event or "ts" not in event:
        return None
    where = f"{event['channel']}:{event['ts']}"
    if event.get("type") == "app_mention":
        return MENTION, f"mention:{where}"
    if event.get("type") == "message" and worth_answering(event, reply_to_links=reply_to_links):
        return MESSAGE, f"message:{where}"
    return None


def seal_form(body: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """A form's submission as kept at rest: what was typed in it (variables, secrets among them)
    encrypted like the tokens."""
    view = dict(body.get("view") or {})
    view["state"] = {"sealed": vault.seal(json.dumps(view.get("state") or {}))}
    return {**body, "view": view}


def open_form(body: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """The submission as Slack sent it, from what ``seal_form`` kept."""
    view = dict(body.get("view") or {})
    sealed = (view.get("state") or {}).get("sealed")
    if isinstance(sealed, str):
        view["state"] = json.loads(vault.open(sealed))
    return {**body, "view": view}


def seal_typed(kind: str, body: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """What a person typed, as kept at rest (encrypted): a command's text (``/buddy run … KEY=secret``),
    a click's values (a confirmation carries the run's variables), a form's state."""
    if kind == VIEW:
        return seal_form(body, vault)
    if kind == COMMAND and isinstance(body.get("text"), str):
        return {**body, "text": "", "sealed_text": vault.seal(body["text"])}
    if kind == CLICK and isinstance(body.get("actions"), list):
        return {**body, "actions": [], "sealed_actions": vault.seal(json.dumps(body["actions"]))}
    return body


def open_typed(body: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """The request as Slack sent it, from what ``seal_typed`` kept."""
    opened = open_form(body, vault)
    if isinstance(opened.get("sealed_text"), str):
        opened = {k: v for k, v in opened.items() if k != "sealed_text"} | {"text": vault.open(opened["sealed_text"])}
    if isinstance(opened.get("sealed_actions"), str):
        actions = json.loads(vault.open(opened["sealed_actions"]))
        opened = {k: v for k, v in opened.items() if k != "sealed_actions"} | {"actions": actions}
    return opened


class Intake:
    """Turns a request into its unit of work, the same way whichever path acknowledges it (Bolt's
    middleware here, or ``bot.slack.quick_ack`` ahead of Bolt)."""

    def __init__(self, work: WorkQueue, vault: Vault, *, reply_to_links: bool) -> None:
        self.work = work
        self.vault = vault
        self.reply_to_links = reply_to_links

    async def take_in(self, body: dict[str, Any]) -> Unit | None | Redelivery:
        """The request's new unit; None for a request that is no unit (handled on the spot, or a
        form's values kept only in memory without TOKEN_ENCRYPTION_KEY); REDELIVERY for a key seen before."""
        found = unit_key(body, reply_to_links=self.reply_to_links)
        if found is None:
            return None
        kind, key = found
        # Slack's deprecated verification token is never needed again: it is not kept at rest.
        payload = {k: v for k, v in body.items() if k != "token"}
        if kind == VIEW and self.vault.locked:
            return None  # a form's values are kept only encrypted: without the key, answered from memory
        if not self.vault.locked:
            payload = seal_typed(kind, payload, self.vault)
        unit = await self.work.accept(kind, key, payload)
        if unit is None:
            log.info("%s is a redelivery of a request already taken; not answered again", key)
            return REDELIVERY
        return unit


class Redelivery(enum.Enum):
    REDELIVERY = "redelivery"


REDELIVERY = Redelivery.REDELIVERY


def register(app: AsyncApp, intake: Intake) -> None:
    @app.middleware
    async def record_the_unit(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        taken = await intake.take_in(req.body) if isinstance(req.body, dict) else None
        if taken is REDELIVERY:
            return BoltResponse(status=200, body="")
        if taken is not None:
            req.context["unit"] = taken
        return await next()
