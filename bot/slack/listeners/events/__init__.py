from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.intake import LINK, MENTION, MESSAGE
from bot.slack.listeners.events import app_home_opened, app_uninstalled
from bot.slack.listeners.events.app_mention import AppMention
from bot.slack.listeners.events.link_shared import LinkShared
from bot.slack.listeners.events.message import Message


def register(app: AsyncApp, services: Services) -> None:
    """Each event worth answering is already a unit of work (``bot.slack.intake``); its listener runs
    it, and so does a take-over after a crash. Any other event (a person's message in a channel, an
    edit) has no unit, and nothing to do."""
    mention, message, link = AppMention(services), Message(services), LinkShared(services)
    for event_type in ("app_mention", "message", "link_shared"):
        app.event(event_type)(run_the_unit(services))
    # Each answered with the bot token of the workspace it came from.
    services.work.register(LINK, services.clients.unit_handler(link.run))
    services.work.register(MENTION, services.clients.unit_handler(mention.run))
    services.work.register(MESSAGE, services.clients.unit_handler(message.run))
    app_uninstalled.register(app, services)  # installed through OAuth: a workspace leaving
    app_home_opened.register(app, services)  # the Home tab


def run_the_unit(services: Services) -> Callable[[dict], Awaitable[None]]:
    async def handle(context: dict) -> None:
        unit = context.get("unit")
        if unit is not None:
            await services.work.run(unit)

    return handle
