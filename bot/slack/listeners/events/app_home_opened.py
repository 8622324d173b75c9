"""``app_home_opened`` on the Home tab: the person's overview is drawn (``views.publish``), and they
are among those whose tab is drawn again when a run they may approve starts or stops waiting.

Nothing is written down before the acknowledgement: a tab drawn twice is the same tab, and one not
drawn (a crash) is drawn the next time it is opened."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.identity.accounts import SlackPerson
from bot.slack.app import Services
from bot.slack.clients import NotInstalled
from bot.slack.home_publisher import HomePublisher, request_team

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    publisher = HomePublisher.of(services)

    @app.event("app_home_opened")
    async def home_opened(body: dict, event: dict) -> None:
        person = SlackPerson.of_event(body)
        if event.get("tab") != "home" or person is None:
            return  # the Messages tab, or no one to draw it for
        try:
            client = await services.clients.for_body(body)
        except NotInstalled as exc:
            log.warning("the Home tab of %s not drawn: %s", person.user, exc)
            return
        await publisher.opened(client, request_team(services, body), person)
