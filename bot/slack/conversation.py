"""Answering inside a conversation (a channel thread or a DM), shared by mentions, DMs and links."""

from __future__ import annotations

import logging
import re

from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import USAGE, Plan, Request, Responder
from bot.render.notice import render_help, render_notice
from bot.slack.app import Services
from bot.slack.clients import installation_key
from bot.slack.delivery import deliver, post_message
from bot.slack.effects import SlackEffects
from bot.slack.message_text import message_text

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def without_mentions(text: str) -> str:
    return _MENTION.sub(" ", text or "").strip()


async def reply_to_bot_message(
    services: Services,
    client: AsyncWebClient,
    event: dict,
    *,
    effects: SlackEffects | None = None,
    responder: Responder | None = None,
) -> None:
    """A bot's message (Buddy's notifications): the runs linked anywhere in it (text, attachments,
    blocks) are answered in its thread; anything else, silence, since no person asked.

    One that mentions the bot arrives twice, as ``message`` and as ``app_mention``, in either order:
    both come here, so whichever is first answers it the same way, and the claim makes the other a
    no-op. An event that finds no run claims nothing, so the other can still answer.
    """
    responder = responder or services.responder
    if responder.settings.read_as_asker:
        return  # nobody asked, so nobody's Buddy account may read it; the bot's token would show it to all
    request = Request(text=message_text(event), whole_argument=False, channel=event["channel"], user=event.get("user"))
    await reply_to(
        services,
        client,
        request,
        channel=event["channel"],
        ts=event["ts"],
        thread_ts=event.get("thread_ts"),
        quiet=True,
        runs_only=True,
        effects=effects,
        responder=responder,
    )


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
    effects: SlackEffects | None = None,
    responder: Responder | None = None,
) -> None:
    """Answers the message ``(channel, ts)`` once, in its thread (``thread_ts`` or the message itself).

    ``quiet`` (links merely pasted in a channel) stays silent when there is nothing to answer or the
    request is refused; mentions and DMs get a polite explanation instead.
    The claim on ``(channel, ts)`` makes a redelivered message a no-op, and is released when answering
    fails so that Slack's retry gets its answer.
    """
    responder = responder or services.responder  # the settings of the workspace it came from
    plan: Plan = responder.plan(request, runs_only=runs_only)
    if quiet and (plan.refusal or not plan.refs):
        return
    holder = effects.unit.id if effects is not None else None
    if not await services.claims.claim(channel, ts, holder=holder):
        log.debug("message %s/%s already answered", channel, ts)
        return
    thread = thread_ts or ts
    try:
        await _answer(services, responder, client, request, plan, channel=channel, thread=thread, effects=effects)
    except Exception:
        await services.claims.release(channel, ts)
        raise


async def _answer(
    services: Services,
    responder: Responder,
    client: AsyncWebClient,
    request: Request,
    plan: Plan,
    *,
    channel: str,
    thread: str,
    effects: SlackEffects | None,
) -> None:
    if plan.refusal:
        await post_message(client, effects, "refusal", channel=channel, thread_ts=thread, **render_notice(plan.refusal))
        return
    if not plan.refs:
        text = request.text.strip().lower()
        message = render_help() if text in {"", "help"} else render_notice(f"I found no Buddy run in that. {USAGE}")
        await post_message(client, effects, "help", channel=channel, thread_ts=thread, **message)
        return
    for index, ref in enumerate(plan.refs):
        answer = await responder.answer(ref, requested_by=request.user if not request.is_direct else None, person=request.person)
        await deliver(
            client,
            answer,
            channel=channel,
            thread_ts=thread,
            user=request.user,
            watcher=services.watcher,
            effects=effects,
            name=f"link{index}",
        )
        if request.person is not None and answer.report is not None and not answer.failed:
            await services.recent.asked(installation_key(client), request.person, answer.report)
    if note := responder.skipped_note(plan):
        await post_message(client, effects, "skipped", channel=channel, thread_ts=thread, **render_notice(note))
