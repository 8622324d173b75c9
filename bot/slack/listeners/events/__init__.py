from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.intake import LINK, MENTION, MESSAGE
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
    services.work.register(LINK, lambda unit: link.run(unit, app.client))
    services.work.register(MENTION, lambda unit: mention.run(unit, app.client))
    services.work.register(MESSAGE, lambda unit: message.run(unit, app.client))


def run_the_unit(services: Services) -> Callable[[dict], Awaitable[None]]:
    async def handle(context: dict) -> None:
        unit = context.get("unit")
        if unit is not None:
            await services.work.run(unit)

    return handle
