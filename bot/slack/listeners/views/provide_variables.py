"""The Provide variables form, submitted: its values go to Buddy as ``APPLY_VARIABLES``.

The submission is a unit of work (``bot.slack.intake``, keyed by the view's id and hash), so an
accepted form is sent once, even across a crash, like a click. Slack closes the form at once; the
outcome shows on the message the form was opened from (found in the click's recorded effect), with a
note in its thread, or, when refused, privately to the person.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.operations import PROVIDE_VARIABLES
from bot.render.actions import VARIABLES_VIEW, submitted_variables
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.intake import CLICK, VIEW, open_typed
from bot.slack.listeners.actions.acting import Acting
from bot.slack.listeners.actions.clicks import Click, clicked_ref, tell
from bot.slack.listeners.actions.provide_variables import MODAL_EFFECT, form_metadata
from bot.work.queue import Unit

log = logging.getLogger(__name__)


class VariablesSubmitted:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.acting = Acting(services)

    async def submit(self, ack: AsyncAck, body: dict, client: AsyncWebClient, context: dict) -> None:
        await ack()  # the form closes; what Buddy says shows on the message
        unit = context.get("unit")
        if unit is not None:
            await self.services.work.run(unit)
            return
        await self.answer(body, client, None)

    async def run(self, unit: Unit, client: AsyncWebClient) -> None:
        """The submission's work, right after its acknowledgement or taken over after a crash."""
        body = open_typed(unit.payload, self.services.accounts.vault)
        await self.answer(body, client, SlackEffects(client, self.services.work, unit))

    async def answer(self, body: dict, client: AsyncWebClient, effects: SlackEffects | None) -> None:
        view = body.get("view") or {}
        metadata = form_metadata(view)
        opened = await self._opened(metadata)
        click = _click(body, metadata, opened)
        if click is None:
            log.info("a variables form without where it came from was submitted; nothing sent")
            return
        ref, refused = clicked_ref(await self.services.responder_for(body), click)
        if ref is None:
            await tell(client, click, refused or "")
            return
        variables = submitted_variables(((view.get("state") or {}).get("values")) or {})
        request = await self.acting.request(client, click, ref, PROVIDE_VARIABLES, body, variables)
        respond = AsyncRespond(response_url=opened.get("response_url"))
        await self.acting.act_and_show(client, click, request, self.acting.effects_for(client, effects), respond)

    async def _opened(self, metadata: dict) -> dict:
        click_unit = str(metadata.get("click") or "")
        if not click_unit:
            return {}
        unit = await self.services.work.unit_of(click_unit, CLICK, taken_over=True, started_at=0.0)
        return unit.effects.get(MODAL_EFFECT) or {}


def _click(body: dict, metadata: dict, opened: dict) -> Click | None:
    """The click the form came from: its message as recorded when the form opened, else only
    where it was (the outcome then goes into the thread, without redrawing the message)."""
    channel, ts = metadata.get("channel"), metadata.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    thread_ts, message = opened.get("thread_ts"), opened.get("message")
    return Click(
        channel=channel,
        message_ts=ts,
        thread_ts=thread_ts if isinstance(thread_ts, str) else None,
        user=(body.get("user") or {}).get("id"),
        value=str(metadata.get("run") or ""),
        message=message if isinstance(message, dict) else {},
        is_ephemeral=bool(opened.get("ephemeral")),
    )


def register(app: AsyncApp, services: Services) -> None:
    submitted = VariablesSubmitted(services)
    app.view(VARIABLES_VIEW)(submitted.submit)
    services.work.register(VIEW, services.clients.unit_handler(submitted.run))  # the workspace's own bot token
