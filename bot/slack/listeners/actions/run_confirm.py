"""The Run and Cancel buttons of ``/buddy run``'s confirmation (a production pipeline).

The Run button carries the request as the bot wrote it, but a value is whatever the browser sent:
it is read again like a new ``/buddy run`` (the line parsed, the channel and workspace rules
applied, the pipeline read as the clicker), only the person who asked may confirm it, and it is
confirmed once: a second click, a replica's or a replayed one, starts nothing.
"""

from __future__ import annotations

import logging

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.run import read_confirmation
from bot.identity.accounts import SlackPerson
from bot.render.notice import render_notice
from bot.render.run import render_not_yours
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.clicks import read_click
from bot.slack.listeners.commands.run import UNEXPECTED_FAILURE, RunFlow, unrecorded
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

STORE_UNAVAILABLE = "I can't reach my state store right now, so nothing was started. Try the Run button again in a minute."

NOT_OURS = "This button does not carry a run I asked you to confirm. Type the `/buddy run …` command again."
CANCELLED = "Cancelled: nothing was started."


class RunConfirm:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.flow = RunFlow(services)

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        click = read_click(body)
        confirmation = read_confirmation(click.value) if click is not None else None
        if click is None or confirmation is None:
            await respond(response_type="ephemeral", replace_original=False, **render_notice(NOT_OURS))
            return
        person = SlackPerson.of(body)
        if (person.team, person.user) != (confirmation.team, confirmation.user):
            await respond(response_type="ephemeral", replace_original=False, **render_not_yours(confirmation.user))
            return
        request, refusal = await self.flow.request(confirmation.args, click.channel, body)
        if request is None:
            await respond(response_type="ephemeral", replace_original=True, **render_notice(refusal or NOT_OURS))
            return
        unit = effects.unit if effects is not None else unrecorded(body)
        try:
            confirmed = await self.flow.runner.confirm_once(confirmation.origin, unit)
        except StateUnavailable:
            await respond(response_type="ephemeral", replace_original=False, **render_notice(STORE_UNAVAILABLE))
            return
        if not confirmed:
            already = "This run was confirmed already: a second click starts nothing."
            await respond(response_type="ephemeral", replace_original=False, **render_notice(already))
            return

        async def tell(message: dict) -> None:
            await respond(response_type="ephemeral", replace_original=True, **message)

        await respond(replace_original=True, text=f":rocket: Confirmed: starting {request.label}…")
        try:
            await self.flow.run(
                request,
                body,
                client=client,
                tell=tell,
                unit=unit,
                channel=click.channel,
                response_url=body.get("response_url"),
                confirmed=True,
            )
        except Exception:
            # A fault nobody foresaw (or a bug): the person still hears back; the operator gets the traceback.
            log.exception("running %s failed unexpectedly", request.pipeline.web_url)
            await tell(render_notice(UNEXPECTED_FAILURE, link=request.pipeline.web_url))


async def cancel(body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None) -> None:
    """The Cancel button: the confirmation goes, and nothing is started."""
    await respond(replace_original=True, text=CANCELLED)
