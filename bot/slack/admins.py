"""Who may change a workspace's Buddy settings: its admins and owners, as Slack's ``users.info`` says
(``is_admin`` / ``is_owner`` / ``is_primary_owner``), asked afresh at each submission."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.delivery import slack_error

log = logging.getLogger(__name__)


async def is_admin(client: AsyncWebClient, user: str) -> bool:
    """False too when Slack does not say (the settings then stay as they are)."""
    if not user:
        return False
    try:
        found = (await client.users_info(user=user)).get("user") or {}
    except SlackApiError as exc:
        log.info("whether %s is a workspace admin: Slack said %s", user, slack_error(exc))
        return False
    return bool(found.get("is_admin") or found.get("is_owner") or found.get("is_primary_owner"))
