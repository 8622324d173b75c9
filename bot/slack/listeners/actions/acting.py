"""What the action buttons and the Provide variables form share: the core that acts (as the person
who clicked, once, audited) and how an outcome is shown.

Once done, the clicked message shows it in place ("Approved by @ana at …": a summary drawn again from
Buddy, any other message as it was with its buttons brought up to date) and its thread gets a note;
both are effects of the unit, so a take-over after a crash repeats neither. A run going again is
followed, like after Refresh. A refusal goes only to the person who clicked, saying what to do.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.acting import RunActions
from bot.actions.audit import DONE
from bot.actions.operations import Operation
from bot.actions.outcome import ActRequest, Outcome
from bot.buddy import errors
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson
from bot.render.actions import ACTED_BLOCK, render_refusal, shown_after, thread_note
from bot.report import RunReport
from bot.slack.app import Services
from bot.slack.clients import installation_key
from bot.slack.delivery import post_message, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.intake import CLICK
from bot.slack.listeners.actions.bot_token import BotTokenPeople
from bot.slack.listeners.actions.clicks import Click, clicked_ref, show, tell
from bot.slack.listeners.actions.refresh import REFRESH_ACTION
from bot.slack.subscription_publisher import ANNOUNCEMENT
from bot.work.queue import Unit

log = logging.getLogger(__name__)

UNEXPECTED_FAILURE = (
    "Something went wrong on my side while acting on this run. Look at the run in Buddy before you try again; "
    "if it keeps happening, tell the bot's operator (the details are in the bot's log)."
)
RUN_ACTIONS_BLOCK = "buddy_run_actions"  # the buttons of a summary and of an announcement


class Acting:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.actions = RunActions(services.responder, services.identity, services.work, services.state)
        self.bot_token = BotTokenPeople(services.settings)

    async def request(
        self,
        client: AsyncWebClient,
        click: Click,
        ref: BuddyRef,
        operation: Operation,
        body: dict,
        variables: tuple[tuple[str, str], ...] = (),
    ) -> ActRequest:
        with_bot_token = await self.bot_token.includes(client, click.user)
        responder = await self.services.responder_for(body)
        person = SlackPerson.of(body)
        return ActRequest(operation, ref, person, with_bot_token=with_bot_token, variables=variables, responder=responder)

    def effects_for(self, client: AsyncWebClient, effects: SlackEffects | None) -> SlackEffects:
        """The unit's effects; without a unit (never, once intake runs), a unit kept in memory only."""
        if effects is not None:
            return effects
        unit = Unit(uuid.uuid4().hex, CLICK, "", {}, attempts=1, started_at=time.time(), degraded=True)
        return SlackEffects(client, self.services.work, unit)

    async def act_and_show(
        self, client: AsyncWebClient, click: Click, request: ActRequest, effects: SlackEffects, respond: AsyncRespond
    ) -> None:
        try:
            outcome = await self.actions.act(effects.unit, request)
            if outcome.result != DONE:
                await show(client, click, render_refusal(outcome))
                return
            await self._show_done(client, click, outcome, effects, respond)
        except SlackApiError as exc:
            log.info("%s of %s: Slack refused (%s)", request.operation.name, request.ref.web_url, slack_error(exc))
            await tell(client, click, f"Done in Buddy, but I could not show it here ({slack_error(exc)}).")
        except Exception:
            # A fault nobody foresaw (or a bug): the person still hears back; the operator gets the traceback.
            log.exception("%s of %s failed unexpectedly", request.operation.name, request.ref.web_url)
            await tell(client, click, UNEXPECTED_FAILURE)

    async def _show_done(
        self, client: AsyncWebClient, click: Click, outcome: Outcome, effects: SlackEffects, respond: AsyncRespond
    ) -> None:
        summary = any(block.get("type") == "header" for block in click.message.get("blocks") or [])
        shown_ref, report = await self._shown(click, outcome)
        redrawn = None
        if summary and report is not None:
            redrawn = (
                (outcome.request.responder or self.services.responder).summary(report, requested_by=click.requested_by).message
            )
        shown = shown_after(click.message, outcome, redrawn=redrawn)
        if click.is_ephemeral:  # only its response_url changes a message only the clicker sees; no thread
            await respond(replace_original=True, **shown)
            return
        if click.message.get("blocks"):
            await effects.update("act:show", channel=click.channel, ts=click.message_ts, **shown)
        await post_message(client, effects, "act:note", channel=click.channel, thread_ts=click.thread, **thread_note(outcome))
        kept = [block for block in shown.get("blocks") or [] if str(block.get("block_id", "")).startswith(ACTED_BLOCK)]
        await self._follow(client, click, outcome, shown_ref, report, summary, kept)

    async def _shown(self, click: Click, outcome: Outcome) -> tuple[BuddyRef, RunReport | None]:
        """What the message shows (its Refresh button names it: the run, where Approve named the waiting
        action; else the run acted on), read again now (None when Buddy does not say)."""
        refresh = next((value for action_id, value in _button_values(click.message) if action_id == REFRESH_ACTION), None)
        responder = outcome.request.responder or self.services.responder
        shown_ref = clicked_ref(responder, replace(click, value=refresh))[0] if refresh else None
        shown_ref = shown_ref or outcome.request.ref
        try:
            return shown_ref, await (await self.actions.reader(outcome.request)).report(shown_ref, fresh=True)
        except errors.BuddyError as exc:
            log.info("%s not read again after the action (%s)", shown_ref.web_url, type(exc).__name__)
            return shown_ref, None

    async def _follow(
        self,
        client: AsyncWebClient,
        click: Click,
        outcome: Outcome,
        ref: BuddyRef,
        report: RunReport | None,
        summary: bool,
        kept: list[dict],
    ) -> None:
        """A run going again is followed, so the message shows it to the end (as after Refresh),
        with the lines saying who acted on it (``kept``) through every redraw."""
        watcher = self.services.watcher
        run_actions = any(block.get("block_id") == RUN_ACTIONS_BLOCK for block in click.message.get("blocks") or [])
        if watcher is None or report is None or report.is_finished or not run_actions:
            return
        request = outcome.request
        as_asker = (request.responder or self.services.responder).settings.read_as_asker
        reader = request.person if as_asker and not request.with_bot_token else None
        await watcher.watch(
            ref,
            channel=click.channel,
            ts=click.message_ts,
            thread_ts=click.thread_ts,
            requested_by=click.requested_by,
            style="summary" if summary else ANNOUNCEMENT,
            shown=report,
            reader=reader,
            team=installation_key(client),
            kept=kept,
        )


def _button_values(message: dict) -> list[tuple[str, str]]:
    return [
        (str(element.get("action_id")), str(element.get("value") or ""))
        for block in message.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]
