"""The Refresh button: looks the run up again (past the cache) and redraws the summary in place.

A run still going is followed again from here on, so Refresh also resumes a watch that timed out.
"""

from __future__ import annotations

import logging

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity.accounts import SlackPerson
from bot.slack.app import Services
from bot.slack.clients import installation_key
from bot.slack.delivery import slack_error
from bot.slack.effects import SlackEffects
from bot.slack.listeners.actions.clicks import clicked_run, show, tell

log = logging.getLogger(__name__)

REFRESH_ACTION = "buddy_refresh"


class Refresh:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        clicked = await clicked_run(body, client, self.services)
        if clicked is None:
            return
        click, ref, responder = clicked
        answer = await responder.answer(ref, requested_by=click.requested_by, fresh=True, person=SlackPerson.of(body))
        if answer.failed:
            await show(client, click, answer.message)
            return
        if click.is_ephemeral:  # only its response_url can change a message only one person sees
            await respond(replace_original=True, **answer.message)
            return
        try:
            await client.chat_update(channel=click.channel, ts=click.message_ts, **answer.message)
        except SlackApiError as exc:
            log.info("refresh of %s/%s failed: %s", click.channel, click.message_ts, slack_error(exc))
            await tell(client, click, f"I could not update that message ({slack_error(exc)}). Paste the run's link to ask again.")
            return
        watcher = self.services.watcher
        if watcher is not None and answer.report is not None and not answer.report.is_finished:
            await watcher.watch(
                ref,
                channel=click.channel,
                ts=click.message_ts,
                thread_ts=click.thread_ts,
                requested_by=click.requested_by,
                shown=answer.report,
                reader=answer.reader,
                team=installation_key(client),
            )
