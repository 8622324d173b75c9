"""ACT_WITH_BOT_TOKEN_FOR: who acts on runs with the bot's Buddy token instead of their own.

Slack user ids are taken as they are; a user group's members are read with
``usergroups.users.list`` (scope ``usergroups:read``), kept for MEMBERS_KEPT_S, so that a click costs
no Slack call while the list is fresh. A group Slack will not list (a missing scope, a deleted group)
counts as empty, with a warning in the log, until it is read again.
"""

from __future__ import annotations

import logging

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.clients import installation_key
from bot.slack.delivery import slack_error

log = logging.getLogger(__name__)

MEMBERS_KEPT_S = 60.0
MAX_GROUPS = 256


class BotTokenPeople:
    def __init__(self, settings: Settings) -> None:
        listed = settings.act_with_bot_token_for
        self.users = frozenset(item for item in listed if not item.startswith("S"))
        self.groups = tuple(item for item in listed if item.startswith("S"))
        # Keyed by the workspace too: a group id means nothing in another workspace.
        self._members: TTLCache[tuple[str | None, str], frozenset[str]] = TTLCache(maxsize=MAX_GROUPS, ttl=MEMBERS_KEPT_S)

    async def includes(self, client: AsyncWebClient, user: str | None) -> bool:
        if not user:
            return False
        if user in self.users:
            return True
        for group in self.groups:
            if user in await self._members_of(client, group):
                return True
        return False

    async def _members_of(self, client: AsyncWebClient, group: str) -> frozenset[str]:
        key = (installation_key(client), group)
        members = self._members.get(key)
        if members is None:
            try:
                answer = await client.usergroups_users_list(usergroup=group)
                members = frozenset(str(user) for user in answer.get("users") or [])
            except SlackApiError as exc:
                log.warning(
                    "ACT_WITH_BOT_TOKEN_FOR: Slack would not list the user group %s (%s); its members act as "
                    "themselves meanwhile (the bot needs the usergroups:read scope)",
                    group,
                    slack_error(exc),
                )
                members = frozenset()
            self._members[key] = members
        return members
