"""The More log button: the block of log lines just before what the thread already shows, as a snippet.

Each click goes MORE_LOG_LINES further back, up to MORE_LOG_MAX lines beyond the tail; the button
carries where the next block ends (see ``bot.render.morelog``) and disappears when there is no more
to post here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer, link_reason
from bot.buddy import errors
from bot.buddy.refs import BuddyRef
from bot.explain import explain
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.lookup import Lookup
from bot.render.blocks import actions, button
from bot.render.limits import MAX_BUTTON_VALUE
from bot.render.logtail import inline_log_block
from bot.render.morelog import MORE_LOG_ACTION, log_block_title, more_log_end, more_log_value, render_log_block
from bot.render.notice import render_link_prompt
from bot.render.scrub import learn_run_secrets
from bot.report import RunReport
from bot.slack.app import Services
from bot.slack.delivery import post_log, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.clicks import Click, clicked_run, show, tell

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """The lines to post: ``[start, end)`` of the action's log, and where the next click would end."""

    log_ref: BuddyRef
    text: str
    title: str
    next_end: int | None  # None: nothing more to post here


class MoreLog:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        clicked = await clicked_run(body, client, self.services)
        if clicked is None:
            return
        click, ref, responder = clicked
        try:
            lookup = await responder.reader(SlackPerson.of(body), ref.host)
            report = await lookup.report(ref)
            learn_run_secrets(report, self.settings.secret_key_regex)  # the lines posted are scrubbed of them
            block, note = await self._next_block(lookup, report, more_log_end(click.value))
        except NotLinked as exc:
            await show(client, click, render_link_prompt(exc.host, link_reason(exc)))
            return
        except errors.BuddyError as exc:
            await tell(client, click, explain(exc, ref))
            return
        if block is None:
            await tell(client, click, note)
            return
        try:
            if click.is_ephemeral:  # no thread to post in: the lines come back to the person, inline
                await respond(response_type="ephemeral", replace_original=False, **_inline(block))
                return
            snippet = Answer(ref=block.log_ref, message={}, snippet=block.text, snippet_title=block.title)
            await post_log(client, snippet, channel=click.channel, thread_ts=click.thread, effects=effects, name="more-log")
            if click.message.get("blocks"):
                await _move_button(client, click, block)
        except SlackApiError as exc:
            log.info("more log for %s failed: %s", click.channel, slack_error(exc))
            await tell(client, click, f"I could not post the log here ({slack_error(exc)}).")

    async def _next_block(self, lookup: Lookup, report: RunReport, end: int | None) -> tuple[Block | None, str]:
        """The next block of earlier lines, or None and why there is none."""
        log_ref, total = report.action_ref, report.log_total_lines
        if log_ref is None or not total:
            return None, "This run has no log I can show."
        tail_start = total - len(report.log_tail)
        end = tail_start if end is None else min(end, tail_start)  # an edited value cannot reach past the log
        posted = tail_start - end
        count = min(self.settings.more_log_lines, self.settings.more_log_max - posted, end)
        if count <= 0:
            if end == 0:
                return None, "That is the start of the log: there are no earlier lines."
            return None, f"I post at most {self.settings.more_log_max:,} earlier lines here; the whole log is in Buddy."
        lines, start = await lookup.log_before(log_ref, end, count)
        text, left_out = render_log_block(lines)
        if not text.strip():
            return None, "Buddy sent no earlier log lines."
        start += left_out
        more = start > 0 and tail_start - start < self.settings.more_log_max
        more = more and len(more_log_value(log_ref.web_url, start)) <= MAX_BUTTON_VALUE
        title = log_block_title(report, start, end, total)
        return Block(log_ref, text, title, start if more else None), ""


async def _move_button(client: AsyncWebClient, click: Click, block: Block) -> None:
    """Points the clicked message's More log button at the next block, or removes it."""
    blocks = []
    for original in click.message.get("blocks") or []:
        if original.get("type") == "actions":
            elements = [_moved(element, block) for element in original.get("elements") or []]
            original = {**original, "elements": [element for element in elements if element is not None]}
            if not original["elements"]:
                continue
        blocks.append(original)
    await client.chat_update(channel=click.channel, ts=click.message_ts, text=click.message.get("text", ""), blocks=blocks)


def _moved(element: dict, block: Block) -> dict | None:
    if element.get("action_id") != MORE_LOG_ACTION:
        return element
    if block.next_end is None:
        return None
    return {**element, "value": more_log_value(block.log_ref.web_url, block.next_end)}


def _inline(block: Block) -> dict:
    blocks = inline_log_block(block.text)
    if block.next_end is not None:
        value = more_log_value(block.log_ref.web_url, block.next_end)
        blocks.append(actions([button("More log", action_id=MORE_LOG_ACTION, value=value)], block_id="buddy_more_log"))
    return {"text": block.title, "blocks": blocks}
