from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.intake import COMMAND
from bot.slack.listeners.commands.account import AccountCommands
from bot.slack.listeners.commands.audit import AuditCommands
from bot.slack.listeners.commands.buddy import BuddyCommand
from bot.slack.listeners.commands.run import RunCommands
from bot.slack.listeners.commands.settings import SettingsCommands


def register(app: AsyncApp, services: Services) -> None:
    families = (RunCommands(services), AccountCommands(services), AuditCommands(services), SettingsCommands(services))
    command = BuddyCommand(services, *families)
    # ack answers within Slack's 3 s from what is already known; the lookup runs after it.
    app.command("/buddy")(command.handle)
    services.quick_acks.command("/buddy", command)  # in HTTP mode, acknowledged ahead of Bolt
    services.work.register(COMMAND, services.clients.unit_handler(command.run))  # the workspace's own bot token
