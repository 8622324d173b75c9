from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.blocks import CLAIM_ACTION, LINK_ACTION, OPEN_ACTION
from bot.render.morelog import MORE_LOG_ACTION
from bot.render.run import RUN_CANCEL_ACTION, RUN_CONFIRM_ACTION
from bot.render.subscriptions import REMOVE_ACTION
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.intake import CLICK, open_typed
from bot.slack.listeners.actions import home, workspace_settings
from bot.slack.listeners.actions.act import Acting, act_answers
from bot.slack.listeners.actions.claim import Claim
from bot.slack.listeners.actions.link_account import LinkAccount
from bot.slack.listeners.actions.more_log import MoreLog
from bot.slack.listeners.actions.open_in_buddy import acknowledge
from bot.slack.listeners.actions.refresh import REFRESH_ACTION, Refresh
from bot.slack.listeners.actions.run_confirm import RunConfirm, cancel
from bot.slack.listeners.actions.subscription_remove import RemoveSubscription
from bot.work.queue import Unit

Answer = Callable[[dict, AsyncWebClient, AsyncRespond, SlackEffects | None], Awaitable[None]]


def register(app: AsyncApp, services: Services) -> None:
    answers: dict[str, Answer] = {
        REMOVE_ACTION: RemoveSubscription(services).answer,
        REFRESH_ACTION: Refresh(services).answer,
        MORE_LOG_ACTION: MoreLog(services).answer,
        CLAIM_ACTION: Claim(services).answer,
        RUN_CONFIRM_ACTION: RunConfirm(services).answer,
        RUN_CANCEL_ACTION: cancel,
        **act_answers(Acting(services)),  # Approve, Provide variables, Retry, Cancel
    }
    home.register(app, services, answers)  # the Home tab's buttons
    workspace_settings.register(app, services)  # its Settings button: opens the admins' modal
    for action_id in answers:
        app.action(action_id)(_acknowledge_then_run(services, answers))
    app.action(OPEN_ACTION)(acknowledge)
    # Its modal needs the click's trigger_id (3 s): opened in the acknowledgement's path.
    app.action(LINK_ACTION)(LinkAccount(services).handle)

    async def run(unit: Unit, client: AsyncWebClient) -> None:
        """A click's work, right after its acknowledgement or taken over after a crash."""
        body = open_typed(unit.payload, services.accounts.vault)
        answer = answers.get(str(((body.get("actions") or [{}])[0]).get("action_id")))
        if answer is not None:
            respond = AsyncRespond(response_url=body.get("response_url"))
            await answer(body, client, respond, SlackEffects(client, services.work, unit))

    services.work.register(CLICK, services.clients.unit_handler(run))  # the workspace's own bot token


def _acknowledge_then_run(services: Services, answers: dict[str, Answer]):
    async def handle(ack: AsyncAck, body: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict) -> None:
        await ack()  # Bolt replies to Slack at once; the rest runs after
        unit = context.get("unit")
        if unit is not None:
            await services.work.run(unit)
            return
        answer = answers.get(str(((body.get("actions") or [{}])[0]).get("action_id")))
        if answer is not None:
            await answer(body, client, respond, None)

    return handle
