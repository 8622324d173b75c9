"""The Slack side of following a run: the summary is edited in place (``chat.update``) while the run
goes on, and when it ends the last edit is made and the log tail goes into the thread.

Renderings are looked up by the watch's ``style``; another feature adds its own with
``publisher.styles[name] = render``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Answer, Responder
from bot.lookup import Lookup
from bot.render.blocks import context
from bot.render.limits import MAX_BLOCKS
from bot.render.mrkdwn import esc
from bot.render.notice import render_notice
from bot.report import RunReport
from bot.slack.app import Services
from bot.slack.clients import NotInstalled, SlackClients
from bot.slack.delivery import post_log, post_message, slack_error
from bot.slack.effects import SlackEffects
from bot.watch import Watch, Watcher, WatchGone
from bot.work.queue import WorkQueue

log = logging.getLogger(__name__)

SUMMARY = "summary"
NOTE_CHARS = 1000
# chat.update errors after which the message can never be edited again.
GONE = {"message_not_found", "channel_not_found", "cant_update_message", "edit_window_closed", "is_archived", "not_in_channel"}

Render = Callable[[Watch, RunReport], Answer]


class SlackWatchPublisher:
    def __init__(self, clients: SlackClients, responder: Responder, work: WorkQueue | None = None) -> None:
        self.clients = clients
        self.work = work
        self.styles: dict[str, Render] = {
            SUMMARY: lambda watch, report: responder.summary(report, requested_by=watch.requested_by),
        }

    async def update(self, watch: Watch, report: RunReport) -> None:
        await self._edit(watch, self._render(watch, report).message)

    async def finish(self, watch: Watch, report: RunReport) -> None:
        """The last edit and the log. A crash in between leaves the watch leased; whoever polls it
        next makes the edit again (same content) and finds the snippet if it had landed."""
        answer = self._render(watch, report)
        await self._edit(watch, answer.message)
        if answer.snippet:
            client = await self._client(watch)
            effects = await self._effects(watch, client)
            await post_log(client, answer, channel=watch.channel, thread_ts=watch.thread, effects=effects, name="final")

    async def stop(self, watch: Watch, reason: str, report: RunReport | None) -> None:
        if report is None:  # nothing new to show: the reason goes in the thread
            client = await self._client(watch)
            effects = await self._effects(watch, client)
            await post_message(client, effects, "stopped", channel=watch.channel, thread_ts=watch.thread, **render_notice(reason))
            return
        await self._edit(watch, with_note(self._render(watch, report).message, reason))

    async def _client(self, watch: Watch) -> AsyncWebClient:
        """The bot token of the workspace the message is in: with its installation gone, so is the watch."""
        try:
            return await self.clients.for_key(watch.team)
        except NotInstalled as exc:
            raise WatchGone(str(exc)) from None

    async def _effects(self, watch: Watch, client: AsyncWebClient) -> SlackEffects | None:
        """The watch's writes in its thread, as effects of a unit named after the watch."""
        if self.work is None:
            return None
        unit = await self.work.unit_of(f"watch-{watch.id}", "watch", taken_over=watch.taken_over, started_at=watch.started_at)
        return SlackEffects(client, self.work, unit)

    def _render(self, watch: Watch, report: RunReport) -> Answer:
        render = self.styles.get(watch.style)
        if render is None:
            log.warning("no rendering for watch style %r; showing the summary", watch.style)
            render = self.styles[SUMMARY]
        answer = render(watch, report)
        if watch.kept:
            answer.message = with_blocks(answer.message, watch.kept)
        return answer

    async def _edit(self, watch: Watch, message: dict) -> None:
        client = await self._client(watch)
        try:
            await client.chat_update(channel=watch.channel, ts=watch.ts, **message)
        except SlackApiError as exc:
            if slack_error(exc) in GONE:
                raise WatchGone(slack_error(exc)) from None
            raise


def with_note(message: dict, note: str) -> dict:
    """``message`` with ``note`` as a context line above its buttons (or at its end)."""
    return with_blocks(message, [context(f":information_source: {esc(note, NOTE_CHARS)}")])


def with_blocks(message: dict, added: list[dict]) -> dict:
    """``message`` with ``added`` above its buttons (or at its end), within Slack's 50 blocks."""
    blocks = list(message.get("blocks", []))
    at = len(blocks) - 1 if blocks and blocks[-1].get("type") == "actions" else len(blocks)
    room = max(0, MAX_BLOCKS - len(blocks))
    blocks[at:at] = added[:room]
    return {**message, "blocks": blocks}


def build_watcher(services: Services, clients: SlackClients) -> Watcher:
    responder = services.responder
    publisher = SlackWatchPublisher(clients, responder, services.work)

    async def reader(watch: Watch) -> Lookup:
        """By the settings of the watch's Slack workspace; as the person it is read for, if any."""
        theirs = await services.responder_of(watch.team)
        return await theirs.reader(watch.reader, watch.ref.host) if watch.reader else theirs.lookup

    return Watcher(services.state, responder.lookup, publisher, services.settings, owner=services.work.owner, reader=reader)
