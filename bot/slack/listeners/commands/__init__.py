from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.intake import COMMAND
from bot.slack.listeners.commands.buddy import BuddyCommand


def register(app: AsyncApp, services: Services) -> None:
    command = BuddyCommand(services)
    # ack answers within Slack's 3 s from what is already known; the lookup runs after it.
    app.command("/buddy")(command.handle)
    services.work.register(COMMAND, lambda unit: command.run(unit, app.client))
