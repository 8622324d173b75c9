"""A commit author's email → their Slack user, with ``users.lookupByEmail`` (scope ``users:read.email``).

Hits are remembered for 24 hours and misses for 15 minutes, so a burst of failures by one person
costs one call. Anything that keeps the lookup from answering (``users_not_found``, a missing scope,
Slack failing) is a miss: the announcement is posted all the same, naming the author without a
mention. A missing scope is logged once, with what to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.delivery import slack_error

log = logging.getLogger(__name__)

HIT_TTL_S = 24 * 3600.0
MISS_TTL_S = 15 * 60.0
CACHE_SIZE = 10_000
SCOPE = "users:read.email"


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str | None  # what Slack shows for them: display name, else real name


class SlackAuthors:
    def __init__(self, client: AsyncWebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._hits: TTLCache[str, SlackUser] = TTLCache(maxsize=CACHE_SIZE, ttl=HIT_TTL_S, timer=clock)
        self._misses: TTLCache[str, bool] = TTLCache(maxsize=CACHE_SIZE, ttl=MISS_TTL_S, timer=clock)
        self._inflight: dict[str, asyncio.Future[SlackUser | None]] = {}
        self._scope_said = False

    async def user(self, email: str) -> SlackUser | None:
        """The Slack user with this email, or None (no such user, a bot, or no answer from Slack)."""
        key = email.strip().lower()
        if (hit := self._hits.get(key)) is not None:
            return hit
        if key in self._misses:
            return None
        asking = self._inflight.get(key)
        if asking is None:  # a burst of one author's failures asks once
            asking = self._inflight[key] = asyncio.ensure_future(self._ask(key))
            asking.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(asking)

    async def _ask(self, email: str) -> SlackUser | None:
        found = await self._lookup(email)
        if found is None:
            self._misses[email] = True
        else:
            self._hits[email] = found
        return found

    async def _lookup(self, email: str) -> SlackUser | None:
        try:
            answer = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "missing_scope" and not self._scope_said:
                self._scope_said = True
                log.warning(
                    "Slack refused users.lookupByEmail (missing_scope): add the scope %s to the app (manifest.yml) "
                    "and reinstall it; until then commit authors are named without a mention",
                    SCOPE,
                )
            elif error not in ("users_not_found", "missing_scope"):
                log.info("users.lookupByEmail failed (%s); the author is named without a mention", error)
            return None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.info("users.lookupByEmail failed (%s); the author is named without a mention", type(exc).__name__)
            return None
        user = answer.get("user")
        if not isinstance(user, dict) or not user.get("id") or user.get("deleted") or user.get("is_bot"):
            return None
        profile = user.get("profile")
        if not isinstance(profile, dict):
            profile = {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
        return SlackUser(str(user["id"]), str(name) if name else None)
