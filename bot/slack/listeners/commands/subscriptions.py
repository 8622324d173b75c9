"""``/buddy subscribe | unsubscribe | subscriptions``: everything but subscribing is answered in the
ack; subscribing asks Buddy first, so it is answered after, and only to the person (the reply may
carry the webhook's secret address)."""

from __future__ import annotations

import logging

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Responder, link_reason
from bot.buddy import errors
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.identity.vault import VaultLocked
from bot.render.notice import render_link_prompt, render_notice
from bot.render.subscriptions import render_reply, render_subscription_list
from bot.slack.app import Services
from bot.slack.clients import Workspace
from bot.slack.delivery import UNREACHABLE, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.home_publisher import HomePublisher, request_team
from bot.state.store import StateUnavailable
from bot.subscriptions.manage import ArgumentError, Arguments, SubscriptionManager, parse_arguments
from bot.subscriptions.store import SubscriptionStore

log = logging.getLogger(__name__)

UNEXPECTED_FAILURE = (
    "Something went wrong on my side while subscribing. Try again; if it keeps happening, tell the bot's "
    "operator (the details are in the bot's log)."
)
CANNOT_READ_AS_YOU = (
    "I could not check your Buddy account just now (Buddy or my state store did not answer), so nothing "
    "was subscribed. Try again in a minute."
)
NOT_A_MEMBER = "Saved, but I'm not in this conversation, so I can't post its runs here: invite me with `/invite @buddy`."


class SubscriptionCommands:
    words = frozenset({"subscribe", "unsubscribe", "subscriptions"})

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = SubscriptionStore(services.state)

    def _manager(self, responder: Responder) -> SubscriptionManager:
        """By the settings of the workspace the command came from: its client, hosts, Buddy workspaces."""
        return SubscriptionManager(self.store, responder.lookup.client, responder.settings)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        word, rest = _split(command)
        channel = command.get("channel_id", "")
        responder = await self.services.responder_for(command)
        refusal = self._refusal(command, responder)
        if refusal:
            await ack(**render_notice(refusal))
        elif word == "subscriptions":
            await ack(**render_subscription_list(await self.store.for_channel(channel)))
        elif word == "unsubscribe":
            arguments = self._arguments(rest, responder)
            await ack(**render_reply(await self._manager(responder).unsubscribe(channel, arguments)))
            await HomePublisher.of(self.services).subscriptions_changed(request_team(self.services, command))
        else:
            label = self._arguments(rest, responder).target.label
            await ack(text=f":hourglass_flowing_sand: Checking that I can read {label}…")

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        word, rest = _split(command)
        responder = await self.services.responder_for(command)
        if word != "subscribe" or self._refusal(command, responder):
            return
        channel, user = command.get("channel_id", ""), str(command.get("user_id") or "")
        arguments = self._arguments(rest, responder)
        try:
            # READ_AS_ASKER: a channel follows only what the person subscribing may read themselves.
            reader = await responder.reader(SlackPerson.of(command), arguments.target.host)
        except NotLinked as exc:
            await respond(response_type="ephemeral", **render_link_prompt(exc.host, link_reason(exc)))
            return
        except (StateUnavailable, VaultLocked, errors.BuddyError) as exc:
            log.info("subscribing %s: the person's Buddy account could not be read (%s)", channel, type(exc).__name__)
            await respond(response_type="ephemeral", **render_notice(CANNOT_READ_AS_YOU))
            return
        as_person = reader.client if reader is not responder.lookup else None
        try:
            workspace = Workspace.of(command)  # whose bot token posts its runs, installed through OAuth
            team = workspace.key if workspace else None
            reply = render_reply(
                await self._manager(responder).subscribe(channel, user, arguments, as_person=as_person, team=team)
            )
            await HomePublisher.of(self.services).subscriptions_changed(request_team(self.services, command))
        except Exception:
            # A fault nobody foresaw (or a bug): the person still hears back; the operator gets the traceback.
            log.exception("subscribing %s failed unexpectedly", channel)
            await respond(response_type="ephemeral", **render_notice(UNEXPECTED_FAILURE))
            return
        try:
            await client.chat_postEphemeral(channel=channel, user=user, **reply)
        except SlackApiError as exc:
            if slack_error(exc) not in UNREACHABLE:
                raise
            log.info("subscribed %s, where the bot cannot post (%s)", channel, slack_error(exc))
            warning = render_notice(NOT_A_MEMBER)
            await respond(response_type="ephemeral", text=reply["text"], blocks=warning["blocks"] + reply["blocks"])

    def _refusal(self, command: dict, responder: Responder) -> str | None:
        """Why this request cannot be done, said in the ack; None when it can."""
        channel = command.get("channel_id")
        if refused := responder.refusal_in(channel, is_direct=str(channel or "").startswith("D")):
            return refused
        word, rest = _split(command)
        if word == "subscriptions":
            return None
        try:
            arguments = self._arguments(rest, responder)
        except ArgumentError as exc:
            return str(exc)
        return self._manager(responder).refusal(arguments)

    def _arguments(self, rest: str, responder: Responder) -> Arguments:
        return parse_arguments(rest, hosts=responder.settings.buddy_hosts)


def _split(command: dict) -> tuple[str, str]:
    word, *rest = command.get("text", "").strip().split(maxsplit=1) or [""]
    return word.lower(), rest[0] if rest else ""
