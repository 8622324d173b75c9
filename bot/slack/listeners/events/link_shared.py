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

from bot.answers import Request, Responder, link_reason
from bot.buddy import errors
from bot.buddy.refs import MAX_REFERENCES
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.render.notice import render_link_prompt
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
        responder = await self.services.responder_for(unit.payload)
        await self.unfurl(unit.payload["event"], client, person=SlackPerson.of_event(unit.payload), responder=responder)

    async def unfurl(
        self,
        event: dict,
        client: AsyncWebClient,
        *,
        person: SlackPerson | None = None,
        responder: Responder | None = None,
    ) -> None:
        responder = responder or self.services.responder
        channel = str(event.get("channel") or "")
        if channel.startswith("D") and event.get("is_bot_user_member"):
            return  # a DM with the bot itself: the message is a request, and gets the full answer
        links = event.get("links")
        found = [link.get("url") for link in links if isinstance(link, dict)] if isinstance(links, list) else []
        urls = list(dict.fromkeys(url for url in found if isinstance(url, str) and url))[:MAX_REFERENCES]
        previews = await asyncio.gather(*(self._preview(responder, url, channel, event.get("user"), person) for url in urls))
        unfurls = {url: preview for url, preview in zip(urls, previews) if isinstance(preview, dict)}
        unlinked = next((preview for preview in previews if isinstance(preview, NotLinked)), None)
        if not unfurls and unlinked is None:
            return
        if event.get("source") == COMPOSER and event.get("unfurl_id"):
            target = {"unfurl_id": event["unfurl_id"], "source": COMPOSER}
        else:
            target = {"channel": channel, "ts": event.get("message_ts")}
        # READ_AS_ASKER and the person has no usable account: Slack shows them alone the invitation.
        invitation = (
            {"user_auth_required": True, "user_auth_blocks": render_link_prompt(unlinked.host, link_reason(unlinked))["blocks"]}
            if unlinked is not None and not unfurls
            else {}
        )
        try:
            # Keyed by the URL exactly as Slack sent it: Slack matches the preview to the link that way.
            await client.chat_unfurl(**target, unfurls=unfurls, **invitation)
        except SlackApiError as exc:
            log.info("chat.unfurl in %s failed: %s", channel, slack_error(exc))

    async def _preview(
        self, responder: Responder, url: str, channel: str, user: str | None, person: SlackPerson | None
    ) -> dict | NotLinked | None:
        request = Request(text=url, whole_argument=False, channel=channel, user=user, is_direct=channel.startswith("D"))
        plan = responder.plan(request, runs_only=True)
        if plan.refusal or not plan.refs:
            return None
        ref = plan.refs[0]
        try:
            report = await responder.report(ref, person=person)
        except NotLinked as exc:
            return exc
        except errors.BuddyError as exc:
            log.info("no unfurl for %s: %s", ref.web_url, type(exc).__name__)
            return None
        return render_unfurl(report, secret_key_regex=self.services.settings.secret_key_regex)
