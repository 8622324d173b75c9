"""A Buddy link pasted in a conversation: Slack sends ``link_shared`` and the bot answers with one
``chat.unfurl`` holding a compact preview of each run it may read.

Everyone in the conversation sees an unfurl, so the same rules as for any answer apply (SLACK_CHANNELS,
BUDDY_WORKSPACES), and a link that is refused or cannot be looked up is left as Slack shows it,
without a word: nobody asked the bot anything.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answers import Request
from bot.buddy import errors
from bot.buddy.refs import MAX_REFERENCES
from bot.render.unfurl import render_unfurl
from bot.slack.app import Services
from bot.slack.delivery import slack_error
from bot.work.queue import Unit

log = logging.getLogger(__name__)

COMPOSER = "composer"  # the link is still in the message box: Slack names it by unfurl_id


class LinkShared:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, unit: Unit, client: AsyncWebClient) -> None:
        await self.unfurl(unit.payload["event"], client)

    async def unfurl(self, event: dict, client: AsyncWebClient) -> None:
        channel = str(event.get("channel") or "")
        if channel.startswith("D") and event.get("is_bot_user_member"):
            return  # a DM with the bot itself: the message is a request, and gets the full answer
        links = event.get("links")
        found = [link.get("url") for link in links if isinstance(link, dict)] if isinstance(links, list) else []
        urls = list(dict.fromkeys(url for url in found if isinstance(url, str) and url))[:MAX_REFERENCES]
        previews = await asyncio.gather(*(self._preview(url, channel, event.get("user")) for url in urls))
        unfurls = {url: preview for url, preview in zip(urls, previews) if preview is not None}
        if not unfurls:
            return
        if event.get("source") == COMPOSER and event.get("unfurl_id"):
            target = {"unfurl_id": event["unfurl_id"], "source": COMPOSER}
        else:
            target = {"channel": channel, "ts": event.get("message_ts")}
        try:
            # Keyed by the URL exactly as Slack sent it: Slack matches the preview to the link that way.
            await client.chat_unfurl(**target, unfurls=unfurls)
        except SlackApiError as exc:
            log.info("chat.unfurl in %s failed: %s", channel, slack_error(exc))

    async def _preview(self, url: str, channel: str, user: str | None) -> dict | None:
        responder = self.services.responder
        request = Request(text=url, whole_argument=False, channel=channel, user=user, is_direct=channel.startswith("D"))
        plan = responder.plan(request, runs_only=True)
        if plan.refusal or not plan.refs:
            return None
        ref = plan.refs[0]
        try:
            report = await responder.lookup.report(ref)
        except errors.BuddyError as exc:
            log.info("no unfurl for %s: %s", ref.web_url, type(exc).__name__)
            return None
        return render_unfurl(report, secret_key_regex=self.services.settings.secret_key_regex)
