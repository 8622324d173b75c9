"""The Provide variables button: a form with the run's variables, sent to Buddy when submitted.

The click's ``trigger_id`` is valid for 3 s, so the form opens at once, saying it is loading, before
Buddy is asked anything; it is then filled in (``views.update``) with each variable and its current
value, secrets left blank. Where the form was opened from (the message, its response_url) is kept as
the click's effect: the submission (``bot/slack/listeners/views/provide_variables.py``) reads it
back to show the outcome on that message. A refusal goes into the form and, as after any click, to
the person privately.
"""

from __future__ import annotations

import json
import logging

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.audit import REFUSED
from bot.actions.operations import PROVIDE_VARIABLES, Snapshot, refusal
from bot.actions.outcome import Outcome
from bot.actions.variables import wanted_variables
from bot.buddy import errors
from bot.explain import explain
from bot.render.actions import loading_view, notice_view, refusal_text, render_refusal, variables_view
from bot.render.facts import run_title
from bot.render.mrkdwn import esc
from bot.slack.delivery import slack_error
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.acting import Acting
from bot.slack.listeners.actions.clicks import Click, clicked_ref, read_click, show, tell
from bot.work.queue import Result

log = logging.getLogger(__name__)

MODAL_EFFECT = "variables:modal"
NOTICE_CHARS = 2900


class ProvideVariables:
    def __init__(self, acting: Acting) -> None:
        self.acting = acting
        self.services = acting.services

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        click = read_click(body)
        if click is None:
            return
        effects = self.acting.effects_for(client, effects)

        async def open_form() -> Result:
            opened = await client.views_open(trigger_id=body.get("trigger_id", ""), view=loading_view(click.value))
            return {
                "view_id": opened["view"]["id"],
                "channel": click.channel,
                "ts": click.message_ts,
                "thread_ts": click.thread_ts,
                "ephemeral": click.is_ephemeral,
                "message": click.message,
                "response_url": body.get("response_url"),
            }

        try:
            opened = await effects.queue.effect(effects.unit, MODAL_EFFECT, open_form)
        except SlackApiError as exc:
            # A take-over after a crash comes after the trigger's 3 s: the person clicks again.
            log.info("the variables form did not open (%s)", slack_error(exc))
            await tell(client, click, f"I could not open the form ({slack_error(exc)}). Click Provide variables again.")
            return
        try:
            await self._fill(client, click, body, str(opened["view_id"]), effects)
        except SlackApiError as exc:
            log.info("the variables form %s could not be filled in (%s)", opened["view_id"], slack_error(exc))
            await tell(client, click, f"I could not show the form ({slack_error(exc)}). Click Provide variables again.")

    async def _fill(self, client: AsyncWebClient, click: Click, body: dict, view_id: str, effects: SlackEffects) -> None:
        ref, refused = clicked_ref(await self.services.responder_for(body), click)
        if ref is None:
            await client.views_update(view_id=view_id, view=notice_view(esc(refused or "", NOTICE_CHARS, one_line=False)))
            await tell(client, click, refused or "")
            return
        request = await self.acting.request(client, click, ref, PROVIDE_VARIABLES, body)
        credential = await self.acting.actions.credential(request)
        if isinstance(credential, Outcome):
            await self._refuse(client, click, view_id, credential)
            return
        try:
            report = await (await self.acting.actions.reader(request)).report(ref, fresh=True)
        except errors.BuddyError as exc:
            await client.views_update(view_id=view_id, view=notice_view(esc(explain(exc, ref), NOTICE_CHARS, one_line=False)))
            return
        snapshot = Snapshot.of(report)
        reason = refusal(PROVIDE_VARIABLES, snapshot) if snapshot is not None else None
        if snapshot is not None and reason is not None:
            outcome = Outcome(request, REFUSED, reason, status=snapshot.status)
            await self._refuse(client, click, view_id, outcome)
            return
        variables, left_out = wanted_variables(report, self.services.settings.secret_key_regex)
        metadata = {"click": effects.unit.id, "run": click.value, "channel": click.channel, "ts": click.message_ts}
        view = variables_view(variables, run_url=report.web_url, title=run_title(report), metadata=metadata, left_out=left_out)
        await client.views_update(view_id=view_id, view=view)

    async def _refuse(self, client: AsyncWebClient, click: Click, view_id: str, outcome: Outcome) -> None:
        """Why not, in the form and (with the Link button where it helps) in a private message."""
        await client.views_update(view_id=view_id, view=notice_view(refusal_text(outcome)))
        await show(client, click, render_refusal(outcome))


def form_metadata(view: dict) -> dict:
    """What the form carries: the click's unit, the run's link, where it was clicked."""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}
