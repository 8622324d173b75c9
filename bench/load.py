"""Sends many signed ``/buddy`` commands at once, the way Slack does, and times each acknowledgement.

The requests are written as raw HTTP/1.1 on connections opened beforehand, one per command: an HTTP
client library in this one process would spend longer building and parsing hundreds of requests than
the bot spends answering them, and that time would be counted as the bot's.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.fakes.bot_process import SIGNING_SECRET
from tests.fakes.signing import FORM, signed_headers, slash_command_body


@dataclass(frozen=True)
class Sent:
    """One command: where its answer must appear, when it left, and how the bot acknowledged it."""

    channel: str
    sent_at: float  # time.monotonic()
    ack_s: float  # seconds until the HTTP response; inf when none came
    status: int  # 0 when no response came


async def send_commands(
    events_urls: Sequence[str],
    texts: list[str],
    *,
    response_url: str,
    channel_prefix: str,
    timeout_s: float = 30.0,
    on_start: Callable[[], None] | None = None,
) -> list[Sent]:
    """One command per text, each from its own channel (``<prefix><n>``), all written at the same moment;
    with several ``events_urls`` (replicas), each command goes to the next in turn, as a round-robin
    load balancer sends them. ``on_start`` is called at the start line."""
    urls = [urlsplit(events_url) for events_url in events_urls]
    targets = [urls[n % len(urls)] for n in range(len(texts))]
    channels = [f"{channel_prefix}{n:05d}" for n in range(len(texts))]
    connections = await asyncio.gather(*(asyncio.open_connection(url.hostname, url.port) for url in targets))
    try:
        requests = [
            _request(
                url.path,
                f"{url.hostname}:{url.port}",
                slash_command_body(text, channel_id=channel, user_id="U" + channel[1:], response_url=response_url),
            )
            for text, channel, url in zip(texts, channels, targets)
        ]
        start = asyncio.Event()
        tasks = [
            asyncio.ensure_future(_exchange(reader, writer, channel, request, start, timeout_s))
            for (reader, writer), channel, request in zip(connections, channels, requests)
        ]
        await asyncio.sleep(0)  # every task waits at the start line
        if on_start is not None:
            on_start()
        start.set()
        return list(await asyncio.gather(*tasks))
    finally:
        for _, writer in connections:
            writer.close()


def _request(path: str, host: str, body: str) -> bytes:
    data = body.encode()
    headers = {"Host": host, "Content-Type": FORM, "Content-Length": str(len(data)), **signed_headers(SIGNING_SECRET, data)}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    return head.encode() + data


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    channel: str,
    request: bytes,
    start: asyncio.Event,
    timeout_s: float,
) -> Sent:
    await start.wait()
    sent_at = time.monotonic()
    writer.write(request)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        await reader.readexactly(length)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return Sent(channel, sent_at, math.inf, 0)
    return Sent(channel, sent_at, time.monotonic() - sent_at, int(lines[0].split()[1]))
