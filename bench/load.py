"""Sends many signed ``/buddy`` commands at once, the way Slack does, and times each acknowledgement."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from tests.fakes.bot_process import SIGNING_SECRET
from tests.fakes.signing import FORM, signed_headers, slash_command_body


@dataclass(frozen=True)
class Sent:
    """One command: where its answer must appear, when it left, and how the bot acknowledged it."""

    channel: str
    sent_at: float  # time.monotonic()
    ack_s: float  # seconds until the HTTP response; inf when none came
    status: int  # 0 when the request failed outright


async def send_commands(events_url: str, texts: list[str], *, response_url: str, channel_prefix: str,
                        timeout_s: float = 30.0) -> list[Sent]:
    """One command per text, each from its own channel (``<prefix><n>``), all in flight together."""
    channels = [f"{channel_prefix}{n:05d}" for n in range(len(texts))]
    bodies = [slash_command_body(text, channel_id=channel, user_id="U" + channel[1:], response_url=response_url)
              for text, channel in zip(texts, channels)]
    connector = aiohttp.TCPConnector(limit=0)  # no client-side pool limit to queue behind
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        # One open connection per command before the clock starts: what is timed is the bot, not how
        # fast this one process can open hundreds of sockets.
        await asyncio.gather(*(_health(session, events_url) for _ in texts))
        start = asyncio.Event()
        tasks = [asyncio.ensure_future(_send(session, events_url, channel, body, start))
                 for channel, body in zip(channels, bodies)]
        await asyncio.sleep(0)  # every task waits at the start line
        start.set()
        return list(await asyncio.gather(*tasks))


async def _health(session: aiohttp.ClientSession, events_url: str) -> None:
    async with session.get(events_url.replace("/slack/events", "/health")) as response:
        await response.read()


async def _send(session: aiohttp.ClientSession, url: str, channel: str, body: str, start: asyncio.Event) -> Sent:
    data = body.encode()
    await start.wait()
    headers = {"Content-Type": FORM, **signed_headers(SIGNING_SECRET, data)}
    sent_at = time.monotonic()
    try:
        async with session.post(url, data=data, headers=headers) as response:
            await response.read()
            return Sent(channel, sent_at, time.monotonic() - sent_at, response.status)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return Sent(channel, sent_at, float("inf"), 0)
