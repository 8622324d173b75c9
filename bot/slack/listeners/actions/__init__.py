from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.render.morelog import MORE_LOG_ACTION
from bot.render.subscriptions import REMOVE_ACTION
from bot.slack.app import Services
from bot.slack.listeners.actions.more_log import MoreLog
from bot.slack.listeners.actions.open_in_buddy import OPEN_ACTION, acknowledge
from bot.slack.listeners.actions.refresh import REFRESH_ACTION, Refresh
from bot.slack.listeners.actions.subscription_remove import RemoveSubscription


def register(app: AsyncApp, services: Services) -> None:
    app.action(REMOVE_ACTION)(RemoveSubscription(services).handle)
    app.action(REFRESH_ACTION)(Refresh(services).handle)
    app.action(MORE_LOG_ACTION)(MoreLog(services).handle)
    app.action(OPEN_ACTION)(acknowledge)
