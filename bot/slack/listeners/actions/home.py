"""The Home tab's buttons: Link and Unlink a Buddy account, Approve a waiting run, Remove one of the
person's channels' subscriptions. Each ends by drawing the tab again, with a note on top saying what
was done or why not (a Home tab has no conversation to answer in).

Link opens a modal (the token form, or Buddy's sign-in link) with the click's ``trigger_id``, valid
3 s, so it runs in the acknowledgement's path; the others are units of work like every click.
Approve acts as the person who clicks, through the same core as the Approve button of a message
(``bot.actions.acting``: their linked account, once per run, audited).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.audit import DONE
from bot.actions.operations import APPROVE
from bot.actions.outcome import ActRequest
from bot.answers import Request
from bot.home.records import WaitingRuns
from bot.identity.accounts import SlackPerson
from bot.render.actions import refusal_text
from bot.render.blocks import plain_text
from bot.render.home import HOME_APPROVE_ACTION, HOME_LINK_ACTION, HOME_REMOVE_ACTION, HOME_UNLINK_ACTION
from bot.render.mrkdwn import esc, link
from bot.slack.app import Services
from bot.slack.delivery import slack_error
from bot.slack.effects import SlackEffects
from bot.slack.home_publisher import HomePublisher, request_team
from bot.slack.linking import Linking, host_argument
from bot.slack.listeners.actions.acting import Acting
from bot.state.store import StateUnavailable
from bot.subscriptions.manage import describe
from bot.subscriptions.store import SubscriptionStore

log = logging.getLogger(__name__)

Answer = Callable[[dict, AsyncWebClient, AsyncRespond, SlackEffects | None], Awaitable[None]]

STORE_DOWN = ":warning: I can't do that right now: my state store is unavailable. Try again in a minute."
UNEXPECTED = (
    ":warning: Something went wrong on my side. Try again; if it keeps happening, tell the bot's operator "
    "(the details are in the bot's log)."
)
NAME_CHARS = 200


def register(app: AsyncApp, services: Services, answers: dict[str, Answer]) -> None:
    """Adds the Home tab's clicks to ``answers`` (units of work) and wires Link (a modal, at once)."""
    home = HomeActions(services)
    answers[HOME_UNLINK_ACTION] = home.unlink
    answers[HOME_APPROVE_ACTION] = home.approve
    answers[HOME_REMOVE_ACTION] = home.remove
    app.action(HOME_LINK_ACTION)(home.link)


class HomeActions:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.publisher = HomePublisher.of(services)
        self.linking = Linking(services)
        self.acting = Acting(services)
        self.subscriptions = SubscriptionStore(services.state)

    async def link(self, ack: AsyncAck, body: dict, client: AsyncWebClient, context: dict) -> None:
        await ack()
        person = SlackPerson.of(body)
        try:
            note = await self._start_linking(body, client, person)
        except StateUnavailable:
            note = STORE_DOWN
        if note:
            await self.publisher.publish(client, request_team(self.services, body), person, note=note)
        unit = context.get("unit")
        if unit is not None:  # its work is done: a unit taken over after a crash cannot open a modal any more
            await self.services.work.run(unit)

    async def _start_linking(self, body: dict, client: AsyncWebClient, person: SlackPerson) -> str | None:
        """Opens the token form or the sign-in modal; the note for the tab when it could not."""
        host = host_argument(_value(body)) or self.services.settings.buddy_default_host
        refusal = self.linking.refusal(host)
        if refusal:
            return f":warning: {esc(refusal, 2000, one_line=False)}"
        trigger_id = str(body.get("trigger_id") or "")
        if not self.linking.oauth.serves(host):
            shown = await self.linking.open_token_modal(
                person, host, trigger_id=trigger_id, channel=None, body=body, client=client
            )
            return f":warning: {shown['text']}" if shown else None
        sign_in = await self.linking.sign_in_link(person, host, body)
        modal = {
            "type": "modal",
            "title": plain_text("Link Buddy account"),
            "close": plain_text("Close"),
            "blocks": sign_in["blocks"],
        }
        try:
            await client.views_open(trigger_id=trigger_id, view=modal)
        except SlackApiError as exc:
            log.warning("could not open the sign-in for %s: %s", person.user, slack_error(exc))
            return f":warning: I could not open the sign-in ({esc(slack_error(exc), 100)}). Click *Link* again."
        return None

    async def unlink(self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None) -> None:
        person = SlackPerson.of(body)
        host = host_argument(_value(body))
        try:
            forgotten = await self.services.accounts.forget(person, host) if host else 0
            shown = esc(host, NAME_CHARS)
            note = (
                f":white_check_mark: I forgot your Buddy account on *{shown}*: I no longer act as you there."
                if forgotten
                else f"Your Buddy account on *{shown}* was not linked any more."
            )
        except StateUnavailable:
            note = STORE_DOWN
        await self.publisher.publish(client, request_team(self.services, body), person, note=note)

    async def remove(self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None) -> None:
        person = SlackPerson.of(body)
        team = request_team(self.services, body)
        value = _value(body)
        try:
            note = await self._remove(client, team, person, int(value)) if value.isdigit() else None
        except StateUnavailable:
            note = STORE_DOWN
        await self.publisher.publish(client, team, person, note=note or "That subscription was already removed.")

    async def _remove(self, client: AsyncWebClient, team: str, person: SlackPerson, subscription_id: int) -> str | None:
        found = await self.publisher.tab.subscription(team, subscription_id)
        if found is None:
            return None
        # A forged value must not reach a channel the person is not in: Slack says which they are in, now.
        channels = await self.publisher.channels_of(client, team, person.user, fresh=True)
        if channels is None:
            return ":warning: Slack did not tell me which channels you are in, so I removed nothing. Try again in a minute."
        if found.channel not in channels:
            return ":warning: You can remove only the subscriptions of channels you are in."
        removed = await self.subscriptions.remove(found.channel, subscription_id)
        if removed is None:
            return None
        return f":white_check_mark: Removed from <#{removed.channel}>: {esc(describe(removed), 500)}."

    async def approve(self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None) -> None:
        person = SlackPerson.of(body)
        team = request_team(self.services, body)
        try:
            note = await self._approve(body, client, person, team, effects)
        except StateUnavailable:
            note = STORE_DOWN
        except Exception:  # a fault nobody foresaw: the person still hears back; the operator gets the traceback
            log.exception("approving from the Home tab failed unexpectedly")
            note = UNEXPECTED
        await self.publisher.publish(client, team, person, note=note)

    async def _approve(
        self, body: dict, client: AsyncWebClient, person: SlackPerson, team: str, effects: SlackEffects | None
    ) -> str:
        value = _value(body)
        responder = await self.services.responder_for(body)
        # The button's value is whatever the browser sent: read like a link typed in a direct message.
        plan = responder.plan(Request(text=value, whole_argument=False, user=person.user, person=person), anywhere=True)
        if plan.refusal or not plan.refs:
            return f":warning: {esc(plan.refusal or 'This button does not point at a Buddy run I can read.', 500)}"
        ref = plan.refs[0]
        with_bot_token = await self.acting.bot_token.includes(client, person.user)
        request = ActRequest(APPROVE, ref, person, with_bot_token=with_bot_token, responder=responder)
        outcome = await self.acting.actions.act(self.acting.effects_for(client, effects).unit, request)
        self.publisher.tab.forget_reads()
        run = link(request.run_ref.web_url, "the run")
        if outcome.result != DONE:
            return f":warning: {refusal_text(outcome)} ({run})"
        await WaitingRuns.of(self.services.state).approved(team, request.run_ref.web_url, value)
        return f":white_check_mark: Approved {run}."


def _value(body: dict) -> str:
    return str(((body.get("actions") or [{}])[0]).get("value") or "")
