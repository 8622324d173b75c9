"""Every Slack request worth answering becomes a unit of work before Bolt acknowledges it.

A global middleware, so it runs ahead of the listener and of the acknowledgement Bolt sends for
events on its own. The unit's key is what a redelivery shares with the first delivery: a slash
command's ``trigger_id`` (a replayed, validly signed body carries the same one), an event's message
(channel and ts: Slack's retries of it carry the same). A key seen before is acknowledged with an empty 200 and nothing else: it is being answered,
or was. The listener finds its unit in ``context["unit"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.render.blocks import OPEN_ACTION
from bot.slack.message_kinds import worth_answering
from bot.work.queue import WorkQueue

log = logging.getLogger(__name__)

COMMAND, MENTION, MESSAGE, LINK, CLICK = "command", "mention", "message", "link_shared", "click"


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


def register(app: AsyncApp, work: WorkQueue, *, reply_to_links: bool) -> None:
    @app.middleware
    async def record_the_unit(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        found = unit_key(req.body, reply_to_links=reply_to_links) if isinstance(req.body, dict) else None
        if found is None:
            return await next()
        kind, key = found
        # Slack's deprecated verification token is never needed again: it is not kept at rest.
        unit = await work.accept(kind, key, {k: v for k, v in req.body.items() if k != "token"})
        if unit is None:
            log.info("%s is a redelivery of a request already taken; not answered again", key)
            return BoltResponse(status=200, body="")
        req.context["unit"] = unit
        return await next()
