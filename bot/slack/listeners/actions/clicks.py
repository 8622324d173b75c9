"""What a button click on a run summary says, and the run it may act on.

A button's value is whatever the browser sent: it is read like a link pasted in the conversation
(known Buddy hosts only, the workspace and channel rules applied), never trusted as it stands.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request, Responder
from bot.buddy.refs import BuddyRef
from bot.render.notice import render_notice
from bot.slack.app import Services
from bot.slack.delivery import slack_error

log = logging.getLogger(__name__)

_REQUESTED_BY = re.compile(r"Requested by <@([UW][A-Z0-9]{2,20})>")


@dataclass(frozen=True)
class Click:
    channel: str
    message_ts: str
    thread_ts: str | None  # the thread the message is a reply in, if it is one
    user: str | None
    value: str
    message: dict  # the clicked message as Slack sent it (empty for an ephemeral one)
    is_ephemeral: bool

    @property
    def thread(self) -> str:
        return self.thread_ts or self.message_ts

    @property
    def requested_by(self) -> str | None:
        """Who the summary's footer names, so that a redraw keeps naming them."""
        contexts = [block for block in self.message.get("blocks") or [] if block.get("type") == "context"]
        for element in (element for block in contexts for element in block.get("elements") or []):
            if isinstance(element, dict) and (found := _REQUESTED_BY.search(str(element.get("text", "")))):
                return found.group(1)
        return None


def read_click(body: dict) -> Click | None:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message_ts = container.get("message_ts")
    if not channel or not message_ts:
        return None
    message = body.get("message") or {}
    action = (body.get("actions") or [{}])[0]
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    return Click(
        channel=channel,
        message_ts=message_ts,
        thread_ts=thread_ts if thread_ts != message_ts else None,
        user=(body.get("user") or {}).get("id"),
        value=str(action.get("value") or ""),
        message=message,
        is_ephemeral=bool(container.get("is_ephemeral")),
    )


def clicked_ref(responder: Responder, click: Click) -> tuple[BuddyRef | None, str | None]:
    """The run the button names, or None and what to tell the person who clicked."""
    request = Request(
        text=click.value, whole_argument=False, channel=click.channel, user=click.user, is_direct=click.channel.startswith("D")
    )
    plan = responder.plan(request)
    if plan.refusal:
        return None, plan.refusal
    if not plan.refs:
        return None, "This button does not point at a Buddy run I can read. Paste the run's link to ask again."
    return plan.refs[0], None


async def clicked_run(body: dict, client: AsyncWebClient, services: Services) -> tuple[Click, BuddyRef, Responder] | None:
    """The click, its run and the responder of the workspace it came from, or None once the person
    has been told why not."""
    click = read_click(body)
    if click is None:
        return None
    responder = await services.responder_for(body)
    ref, refusal = clicked_ref(responder, click)
    if ref is None:
        await tell(client, click, refusal or "")
        return None
    return click, ref, responder


async def tell(client: AsyncWebClient, click: Click, text: str) -> None:
    """A note only the person who clicked sees."""
    await show(client, click, render_notice(text))


async def show(client: AsyncWebClient, click: Click, message: dict) -> None:
    """A message only the person who clicked sees."""
    if not click.user:
        return
    try:
        await client.chat_postEphemeral(channel=click.channel, user=click.user, **message)
    except SlackApiError as exc:
        log.info("could not tell %s: %s", click.user, slack_error(exc))
