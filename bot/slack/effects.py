"""Slack writes as effects of a unit of work: each done once, even across a crash.

Every message the bot posts for a unit carries Slack message metadata naming the unit and the
effect, and every snippet a file name with the unit's id. A worker that takes a unit over (and only
then) reads the conversation back (``conversations.history`` / ``conversations.replies``, from when
the unit started) to find out whether an unrecorded post or upload landed before the crash. An edit
(``chat.update``) is simply repeated. An ephemeral message, a ``response_url`` reply and an unfurl
cannot be looked for: those are at least once (docs/faults.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.work.queue import Result, Unit, WorkQueue

log = logging.getLogger(__name__)

EVENT_TYPE = "buddy_unit"
HISTORY_PAGES = 5  # a lease is short: what the bot posted since the unit started is near the top
HISTORY_PAGE_SIZE = 200
CLOCK_SKEW_S = 120.0  # the bot's clock and Slack's need not agree to the second
HISTORY_PACING_S = 1.2  # conversations.history and .replies allow about 50 calls a minute per workspace

_history_turn = asyncio.Lock()
_last_history_read = [0.0]


def unit_metadata(unit: Unit, effect: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"unit": unit.id, "effect": effect}}


def snippet_filename(unit: Unit, filename: str) -> str:
    """The snippet's file name, carrying the unit's id so a take-over can find the upload."""
    stem, dot, extension = filename.rpartition(".")
    return f"{stem}-{unit.id[:12]}.{extension}" if dot else f"{filename}-{unit.id[:12]}"


class SlackEffects:
    """The Slack calls of one unit. Without a queue (the store unavailable at start of a request is
    handled by the queue itself) every call is made as it is."""

    def __init__(self, client: AsyncWebClient, queue: WorkQueue, unit: Unit) -> None:
        self.client = client
        self.queue = queue
        self.unit = unit

    async def post(self, effect: str, *, channel: str, thread_ts: str | None = None, **message: Any) -> Result:
        """``chat.postMessage``: returns the posted message's channel and ts."""

        async def do() -> Result:
            posted = await self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, metadata=unit_metadata(self.unit, effect), **message
            )
            return {"channel": posted["channel"], "ts": posted["ts"]}

        async def find() -> Result | None:
            for found in await self._read_back(channel, thread_ts):
                payload = (found.get("metadata") or {}).get("event_payload") or {}
                if payload.get("unit") == self.unit.id and payload.get("effect") == effect:
                    return {"channel": _conversation(channel, found), "ts": found["ts"]}
            return None

        return await self.queue.effect(self.unit, effect, do, find=find)

    async def upload(self, effect: str, *, channel: str, thread_ts: str, filename: str, **upload: Any) -> Result:
        """``files_upload_v2`` into a thread; found again by its file name."""
        name = snippet_filename(self.unit, filename)

        async def do() -> Result:
            await self.client.files_upload_v2(channel=channel, thread_ts=thread_ts, filename=name, **upload)
            return {"filename": name}

        async def find() -> Result | None:
            for found in await self._read_back(channel, thread_ts):
                if any(isinstance(f, dict) and f.get("name") == name for f in found.get("files") or []):
                    return {"filename": name}
            return None

        return await self.queue.effect(self.unit, effect, do, find=find)

    async def update(self, effect: str, *, channel: str, ts: str, **message: Any) -> Result:
        """``chat.update``: repeating an edit shows the same, so a take-over simply does it again."""

        async def do() -> Result:
            await self.client.chat_update(channel=channel, ts=ts, metadata=unit_metadata(self.unit, effect), **message)
            return {"channel": channel, "ts": ts}

        return await self.queue.effect(self.unit, effect, do)

    async def _read_back(self, channel: str, thread_ts: str | None) -> list[dict[str, Any]]:
        """What the bot may have posted there since the unit started, newest pages first, paced."""
        oldest = f"{self.unit.started_at - CLOCK_SKEW_S:.6f}"
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            async with _history_turn:
                wait = _last_history_read[0] + HISTORY_PACING_S - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if thread_ts:
                        page = await self.client.conversations_replies(
                            channel=channel,
                            ts=thread_ts,
                            oldest=oldest,
                            include_all_metadata=True,
                            limit=HISTORY_PAGE_SIZE,
                            cursor=cursor,
                        )
                    else:
                        page = await self.client.conversations_history(
                            channel=channel, oldest=oldest, include_all_metadata=True, limit=HISTORY_PAGE_SIZE, cursor=cursor
                        )
                except SlackApiError as exc:
                    # Cannot look: doing it again risks a duplicate, not doing it risks a loss; a
                    # person would rather read an answer twice than never.
                    log.info("unit %s: could not read %s back (%s)", self.unit.id, channel, exc.response.get("error"))
                    return messages
                finally:
                    _last_history_read[0] = time.monotonic()
            messages += page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        return messages


def _conversation(channel: str, message: dict[str, Any]) -> str:
    return str(message.get("channel") or channel)
