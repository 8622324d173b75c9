"""Modal submissions (``view_submission``), a module per modal, each wired by its own ``register``."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.app import Services
from bot.slack.listeners.views import link_token, provide_variables, workspace_settings


def register(app: AsyncApp, services: Services) -> None:
    """Each modal module's ``register(app, services)`` is called here."""
    link_token.register(app, services)
    provide_variables.register(app, services)
    workspace_settings.register(app, services)
