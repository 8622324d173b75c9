"""Answering inside a conversation (a channel thread or a DM), shared by mentions, DMs and links."""

from __future__ import annotations

import logging
import re

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import USAGE, Plan, Request
from bot.render.notice import render_help, render_notice
from bot.slack.app import Services
from bot.slack.delivery import deliver

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def without_mentions(text: str) -> str:
    return _MENTION.sub(" ", text or "").strip()


async def reply_to(
    services: Services,
    client: AsyncWebClient,
    request: Request,
    *,
    channel: str,
    ts: str,
    thread_ts: str | None,
    quiet: bool,
    runs_only: bool = False,
) -> None:
    """Answers the message ``(channel, ts)`` once, in its thread (``thread_ts`` or the message itself).

    ``quiet`` (links merely pasted in a channel) stays silent when there is nothing to answer or the
    request is refused; mentions and DMs get a polite explanation instead.
    The claim on ``(channel, ts)`` makes a redelivered message a no-op, and is released when answering
    fails so that Slack's retry gets its answer.
    """
    responder = services.responder
    plan: Plan = responder.plan(request, runs_only=runs_only)
    if quiet and (plan.refusal or not plan.refs):
        return
    if not services.store.claim(channel, ts):
        log.debug("message %s/%s already answered", channel, ts)
        return
    thread = thread_ts or ts
    try:
        await _answer(services, client, request, plan, channel=channel, thread=thread)
    except Exception:
        services.store.release(channel, ts)
        raise


async def _answer(services: Services, client: AsyncWebClient, request: Request, plan: Plan, *, channel: str, thread: str) -> None:
    if plan.refusal:
        await client.chat_postMessage(channel=channel, thread_ts=thread, **render_notice(plan.refusal))
        return
    if not plan.refs:
        text = request.text.strip().lower()
        message = render_help() if text in {"", "help"} else render_notice(f"I found no Buddy run in that. {USAGE}")
        await client.chat_postMessage(channel=channel, thread_ts=thread, **message)
        return
    for ref in plan.refs:
        answer = await services.responder.answer(ref, requested_by=request.user if not request.is_direct else None)
        await deliver(client, answer, channel=channel, thread_ts=thread, user=request.user, watcher=services.watcher)
    if note := services.responder.skipped_note(plan):
        await client.chat_postMessage(channel=channel, thread_ts=thread, **render_notice(note))
