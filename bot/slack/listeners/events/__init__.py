from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.listeners.events.app_mention import AppMention
from bot.slack.listeners.events.link_shared import LinkShared
from bot.slack.listeners.events.message import Message


def register(app: AsyncApp, services: Services) -> None:
    app.event("app_mention")(AppMention(services).handle)
    app.event("message")(Message(services).handle)
    app.event("link_shared")(LinkShared(services).handle)
