"""Every listener kind registers itself here; each callback lives in its own small module."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.listeners import actions, commands, events, views


def register_listeners(app: AsyncApp, services: Services) -> None:
    commands.register(app, services)
    events.register(app, services)
    actions.register(app, services)
    views.register(app, services)
