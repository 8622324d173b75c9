"""Publishing each person's Home tab (``views.publish``) and drawing it again when something on it
changes: a click on it (Link, Unlink, Approve, Remove), or a followed run starting or stopping to wait
for an approval (for the people of that installation who opened their tab lately, ``Viewers``).

Which channels a person is in is Slack's ``users.conversations`` (a few pages, kept a minute); whether
they may see Settings is ``users.info``'s ``is_admin`` / ``is_owner`` (kept five minutes). Every draw
is on the installation's own bot token.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.home.records import Viewers, WaitingRuns
from bot.home.tab import HomeTab
from bot.identity.accounts import SlackPerson
from bot.render.blocks import header, section
from bot.render.home import render_home
from bot.slack.admins import is_admin
from bot.slack.app import Services
from bot.slack.clients import NotInstalled
from bot.slack.delivery import slack_error
from bot.state.store import StateStore, StateUnavailable

log = logging.getLogger(__name__)

CHANNEL_PAGES = 5  # of 200 channels each: the channels a person is in, as far as the Home tab looks
CHANNELS_KEPT_S = 60.0
ADMINS_KEPT_S = 300.0
STORE_DOWN = (
    ":warning: I can't show your Buddy overview right now: my state store is unavailable. Open this tab again in a minute."
)


def request_team(services: Services, body: dict) -> str:
    """The installation a request came through, as the Home tab's rows name it (``SOLE_WORKSPACE``, '',
    for the one workspace, as the settings are keyed)."""
    return services.clients.settings_key(body) or ""


class HomePublisher:
    _by_store: weakref.WeakKeyDictionary[StateStore, HomePublisher] = weakref.WeakKeyDictionary()

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tab = HomeTab(services.state, services.identity)
        self.viewers = Viewers(services.state)
        self._channels: TTLCache[tuple[str, str], frozenset[str]] = TTLCache(maxsize=10_000, ttl=CHANNELS_KEPT_S)
        self._admins: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=ADMINS_KEPT_S)
        self._redrawing: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._everyone: set[str] = set()  # installations whose every viewer is drawn again, not only the linked
        WaitingRuns.of(services.state).listeners.append(self.waiting_changed)

    @classmethod
    def of(cls, services: Services) -> HomePublisher:
        """The one of this process (per state store): the event listener and the buttons share it."""
        found = cls._by_store.get(services.state)
        if found is None:
            found = cls._by_store[services.state] = cls(services)
        return found

    async def opened(self, client: AsyncWebClient, team: str, person: SlackPerson) -> None:
        """The person opened their Home tab: drawn, and they are drawn again on changes."""
        try:
            await self.viewers.opened(team, person)
        except StateUnavailable as exc:
            log.info("who opened the Home tab not kept: %s", exc)
        await self.publish(client, team, person)

    async def publish(self, client: AsyncWebClient, team: str, person: SlackPerson, *, note: str | None = None) -> bool:
        """Draws the person's tab; ``note`` (mrkdwn, escaped) tells what their click did. False if
        Slack refused it (logged: the tab keeps what it showed)."""
        try:
            channels = await self.channels_of(client, team, person.user)
            responder = await self.services.responder_of(team or None)
            can_configure = await self._admin(client, team, person.user)
            data = await self.tab.gather(team, person, responder, channels=channels, can_configure=can_configure)
            view = render_home(data, note=note)
        except StateUnavailable as exc:
            log.warning("the Home tab of %s not drawn: %s", person.user, exc)
            view = {"type": "home", "blocks": [header("Buddy"), section(STORE_DOWN)]}
        try:
            await client.views_publish(user_id=person.user, view=view)
        except SlackApiError as exc:
            log.warning("could not publish the Home tab of %s: %s", person.user, slack_error(exc))
            return False
        return True

    async def channels_of(self, client: AsyncWebClient, team: str, user: str, *, fresh: bool = False) -> frozenset[str] | None:
        """The channels the bot sees the person in (None when Slack would not say)."""
        key = (team, user)
        if not fresh and (known := self._channels.get(key)) is not None:
            return known
        found: set[str] = set()
        cursor = None
        try:
            for _ in range(CHANNEL_PAGES):
                page = await client.users_conversations(
                    user=user, types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                )
                found.update(str(c.get("id")) for c in page.get("channels") or [] if isinstance(c, dict) and c.get("id"))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info("which channels %s is in: Slack said %s", user, slack_error(exc))
            return None
        self._channels[key] = frozenset(found)
        return self._channels[key]

    async def _admin(self, client: AsyncWebClient, team: str, user: str) -> bool:
        """A workspace admin or owner (who may open Settings); False when Slack does not say."""
        key = (team, user)
        if (known := self._admins.get(key)) is not None:
            return known
        self._admins[key] = await is_admin(client, user)  # the Settings form asks Slack again on submission
        return self._admins[key]

    async def subscriptions_changed(self, team: str) -> None:
        """A subscription of ``team`` was added or removed: every viewer's tab is drawn again."""
        self._everyone.add(team)
        await self.waiting_changed(team)

    async def waiting_changed(self, team: str) -> None:
        """A followed run of ``team`` started or stopped waiting: its viewers' tabs are drawn again, in
        the background (one redraw per installation at a time), so the poll that saw it goes on."""
        if team in self._redrawing:
            self._again.add(team)  # a change during a redraw: drawn once more after it
            return
        task = asyncio.create_task(self._redraw_viewers(team), name=f"home-redraw:{team}")
        self._redrawing[team] = task
        task.add_done_callback(lambda _: self._redrawing.pop(team, None))

    async def _redraw_viewers(self, team: str) -> None:
        try:
            client = await self.services.clients.for_key(team or None)
            while True:
                self._again.discard(team)
                everyone = team in self._everyone
                self._everyone.discard(team)
                for person in await self.viewers.of(team):
                    # Waiting runs are listed only on a linked person's tab; subscriptions on everyone's.
                    if everyone or await self.services.accounts.hosts(person):
                        await self.publish(client, team, person)
                if team not in self._again:
                    break
        except (NotInstalled, StateUnavailable) as exc:
            log.info("the Home tabs of %s not drawn again: %s", team or "the workspace", exc)
        except Exception:  # a background redraw must not take anything else down
            log.exception("drawing the Home tabs of %s again failed", team or "the workspace")
