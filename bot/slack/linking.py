"""Starting to link a Buddy account, as ``/buddy login [host]`` and the "Link Buddy account" button
both do: Buddy's sign-in link where OAuth serves the host, else the token modal, opened with the
request's ``trigger_id`` (valid for 3 s, so this runs in the acknowledgement's path, never later)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.buddy.refs import CLOUD_API_BASES
from bot.identity.accounts import SlackPerson
from bot.identity.oauth import BuddyOAuth
from bot.identity.vault import NO_KEY
from bot.render.accounts import render_sign_in_link, token_modal
from bot.render.notice import render_notice
from bot.slack.app import Services
from bot.slack.clients import Workspace
from bot.slack.delivery import slack_error
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

STORE_DOWN = "I can't start linking right now: my state store is unavailable. Try again in a minute."


def host_argument(text: str) -> str:
    """A host as typed (``eu.buddy.works``, ``https://buddy.example.com/``, or Slack's ``<http://…|…>``)."""
    text = text.strip().strip("<>").split("|", 1)[0].strip()
    host = text.lower().removeprefix("https://").removeprefix("http://")
    return host.split("/", 1)[0]


class Linking:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.oauth = BuddyOAuth(services.settings, services.responder.lookup.client, services.accounts)

    @property
    def known_hosts(self) -> list[str]:
        settings = self.services.settings
        found = dict.fromkeys([settings.buddy_default_host.lower(), *settings.buddy_hosts, *CLOUD_API_BASES])
        return list(found)

    def refusal(self, host: str) -> str | None:
        """Why linking on ``host`` cannot start, in words for the person; None when it can."""
        if self.services.accounts.vault.locked:
            return NO_KEY
        if host not in self.known_hosts:
            shown = host[:100] if host.isascii() and host.isprintable() else "that host"
            return (
                f"I don't know the Buddy host {shown}. I link accounts on {', '.join(self.known_hosts)}: "
                "`/buddy login <host>` with one of them (or ask the bot's operator to add yours to BUDDY_HOSTS)."
            )
        return None

    async def sign_in_link(self, person: SlackPerson, host: str, body: dict) -> dict:
        """Where OAuth serves ``host``: the message with the person's sign-in link (``body``: the
        request it answers, whose Slack installation hears how the sign-in went)."""
        workspace = Workspace.of(body)
        try:
            return render_sign_in_link(await self.oauth.begin(person, workspace.key if workspace else None), host)
        except StateUnavailable as exc:
            log.warning("could not start a Buddy sign-in: %s", exc)
            return render_notice(STORE_DOWN)

    async def open_token_modal(
        self,
        person: SlackPerson,
        host: str,
        *,
        trigger_id: str,
        channel: str | None,
        body: dict,
        client: AsyncWebClient | None = None,
    ) -> dict | None:
        """The token modal for ``host`` (with the request's own ``client`` where Bolt gives one); None
        once open, else the message saying it did not open."""
        try:
            await (client or await self.services.clients.for_body(body)).views_open(
                trigger_id=trigger_id, view=token_modal(host, channel=channel)
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("could not open the token form for %s: %s", person.user, error)
            return render_notice(f"I could not open the form for your Buddy token ({error}). Try again: `/buddy login {host}`.")
        return None
