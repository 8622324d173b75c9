"""The Approve, Retry and Cancel buttons (Cancel behind Slack's confirm dialog), and the table of
every action button's answer (Provide variables opens a form: ``provide_variables``).

A click is acknowledged at once and is a unit of work (``bot.slack.intake``); what it does is
``bot.actions.acting``, shown by ``bot.slack.listeners.actions.acting``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.operations import APPROVE, CANCEL, PROVIDE_VARIABLES, RETRY, Operation
from bot.render.actions import ACTION_IDS
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.acting import Acting
from bot.slack.listeners.actions.clicks import clicked_run
from bot.slack.listeners.actions.provide_variables import ProvideVariables

Answer = Callable[[dict, AsyncWebClient, AsyncRespond, SlackEffects | None], Awaitable[None]]


def act_answers(acting: Acting) -> dict[str, Answer]:
    """Each action button's answer, by its action_id."""
    return {
        ACTION_IDS[APPROVE.name]: Act(acting, APPROVE).answer,
        ACTION_IDS[PROVIDE_VARIABLES.name]: ProvideVariables(acting).answer,
        ACTION_IDS[RETRY.name]: Act(acting, RETRY).answer,
        ACTION_IDS[CANCEL.name]: Act(acting, CANCEL).answer,
    }


class Act:
    """One button: Approve, Retry or Cancel (Cancel has Slack's confirm dialog before the click)."""

    def __init__(self, acting: Acting, operation: Operation) -> None:
        self.acting = acting
        self.operation = operation

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        clicked = await clicked_run(body, client, self.acting.services)
        if clicked is None:
            return
        click, ref, _ = clicked
        request = await self.acting.request(client, click, ref, self.operation, body)
        await self.acting.act_and_show(client, click, request, self.acting.effects_for(client, effects), respond)
