"""The "I'm on it" button, on every message about a failure: the first to click takes the failure on.

The thread then says "@ana is looking into it", the clicked message shows it in place of the button,
and the commit's author is not sent a DM about that run any more. A click in the author's DM is noted
in the threads of the run's announcements, where the team is. Someone clicking after the first is
told, only them, who is on it. The run is named by its web link, as announcements name it; a button
that names it by the API's number is looked up (from the cache, for a run just announced).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Responder
from bot.buddy import errors
from bot.buddy.refs import BuddyRef
from bot.render.announcement import render_claim_note, with_claim
from bot.slack.app import Services
from bot.slack.delivery import post_message, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.clicks import Click, clicked_run, show, tell
from bot.state.store import StateUnavailable
from bot.subscriptions.events import watched_event
from bot.why.authors import AuthorStore

log = logging.getLogger(__name__)


class Claim:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.authors = AuthorStore(services.state)

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        clicked = await clicked_run(body, client, self.services)
        if clicked is None:
            return
        click, ref, responder = clicked
        if not click.user:
            return
        run_url = await self._run_url(ref, responder)
        try:
            claimer = await self.authors.claim(run_url, click.user)
        except StateUnavailable:
            await tell(client, click, "I could not note that right now (my state store is unavailable). Try again in a minute.")
            return
        try:
            if claimer != click.user:
                await show(client, click, render_claim_note(claimer))
            else:
                await self._note(client, click, run_url, effects)
            await self._show_on_message(client, click, claimer, effects)
        except SlackApiError as exc:
            log.info("claim of %s in %s: Slack refused (%s)", run_url, click.channel, slack_error(exc))

    async def _run_url(self, ref: BuddyRef, responder: Responder) -> str:
        """The run's web link as announcements key it (the execution's own link, with its web id)."""
        run = replace(ref, action_execution_id=None)
        if not run.execution_id_is_numeric:
            return run.web_url
        try:
            event = watched_event(await responder.lookup.report(run))
        except errors.BuddyError as exc:
            log.info("claimed run %s not looked up (%s); keyed by its link", run.web_url, type(exc).__name__)
            return run.web_url
        return event.run_url if event is not None else run.web_url

    async def _note(self, client: AsyncWebClient, click: Click, run_url: str, effects: SlackEffects | None) -> None:
        """ "@ana is looking into it" in the clicked message's thread; from a DM, in the announcements'."""
        note = render_claim_note(click.user or "")
        if not click.channel.startswith("D"):
            await post_message(client, effects, "claim:note", channel=click.channel, thread_ts=click.thread, **note)
            return
        for channel, thread_ts in await self.authors.threads(run_url):
            try:
                await post_message(client, effects, f"claim:note:{channel}", channel=channel, thread_ts=thread_ts, **note)
            except SlackApiError as exc:
                log.info("claim note for %s not posted in %s (%s)", run_url, channel, slack_error(exc))

    async def _show_on_message(self, client: AsyncWebClient, click: Click, claimer: str, effects: SlackEffects | None) -> None:
        if click.is_ephemeral or not click.message.get("blocks"):
            return  # an ephemeral message changes only through its response_url, and is only the clicker's
        shown = with_claim(click.message, claimer)
        if effects is not None:
            await effects.update("claim:show", channel=click.channel, ts=click.message_ts, **shown)
        else:
            await client.chat_update(channel=click.channel, ts=click.message_ts, **shown)
