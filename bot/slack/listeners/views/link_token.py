"""The token modal's submission: the personal access token is checked with Buddy before Slack's 3 s
run out (CHECK_WITHIN_S), then kept encrypted. A token Buddy refuses is answered in the modal
(``response_action: errors``); once linked, the modal closes and the person is told where they typed
``/buddy login`` (or in a DM). The token is never shown, logged or kept anywhere else: this
submission is not a unit of work, so its payload is not written to the state store either."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity.accounts import SlackPerson
from bot.identity.personal import PersonalTokens, TokenRefused, lacks_acting_scope
from bot.identity.vault import NO_KEY, VaultLocked
from bot.render.accounts import LINK_TOKEN_VIEW, TOKEN_BLOCK, TOKEN_INPUT, render_linked
from bot.slack.app import Services
from bot.slack.delivery import slack_error
from bot.slack.home_publisher import HomePublisher, request_team
from bot.slack.linking import Linking
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

CHECK_WITHIN_S = 2.0  # of Slack's 3 s for the answer; the rest is for keeping it and the way back
UNEXPECTED = "Something went wrong on my side; the token was not linked. Try again, or tell the bot's operator."


def register(app: AsyncApp, services: Services) -> None:
    app.view(LINK_TOKEN_VIEW)(LinkToken(services).submit)


class LinkToken:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.linking = Linking(services)
        self.tokens = PersonalTokens(services.responder.lookup.client, services.accounts)

    async def submit(self, ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        person = SlackPerson.of(body)
        view = body.get("view") or {}
        host, channel = _metadata(view)
        refusal = self.linking.refusal(host)
        if refusal:
            await ack(response_action="errors", errors={TOKEN_BLOCK: refusal[:300]})
            return
        value = ((view.get("state") or {}).get("values") or {}).get(TOKEN_BLOCK, {}).get(TOKEN_INPUT, {}).get("value")
        try:
            account = await self.tokens.link(person, host, str(value or ""), within_s=CHECK_WITHIN_S)
        except TokenRefused as exc:
            await ack(response_action="errors", errors={TOKEN_BLOCK: str(exc)})
            return
        except VaultLocked:
            await ack(response_action="errors", errors={TOKEN_BLOCK: NO_KEY[:300]})
            return
        except StateUnavailable as exc:
            log.warning("could not keep a linked token: %s", exc)
            await ack(
                response_action="errors",
                errors={TOKEN_BLOCK: "I could not save it: my state store is unavailable. Try again in a minute."},
            )
            return
        except Exception:
            log.exception("linking a personal token failed unexpectedly")
            await ack(response_action="errors", errors={TOKEN_BLOCK: UNEXPECTED})
            return
        await ack()  # closes the modal
        message = render_linked(account, lacks_acting_scope=lacks_acting_scope(account.scopes))
        await _tell(client, person.user, channel, message)
        await HomePublisher.of(self.services).publish(client, request_team(self.services, body), person)  # now linked


async def _tell(client: AsyncWebClient, user: str, channel: str | None, message: dict) -> None:
    """Ephemeral where they asked, else (no channel, or one the bot cannot post in) a DM."""
    if channel:
        try:
            await client.chat_postEphemeral(channel=channel, user=user, **message)
            return
        except SlackApiError as exc:
            log.info("could not confirm the link in %s (%s); sending a DM", channel, slack_error(exc))
    try:
        await client.chat_postMessage(channel=user, **message)
    except SlackApiError as exc:
        log.warning("could not tell %s that their account is linked: %s", user, slack_error(exc))


def _metadata(view: dict) -> tuple[str, str | None]:
    """The host and channel the modal was opened for (its ``private_metadata``, which we wrote)."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return str(meta.get("host") or ""), str(meta.get("channel") or "") or None
