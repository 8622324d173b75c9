"""The transport under BuddyClient (bot/buddy/pool.py), against the fake Buddy over real sockets.

It sends a request once, however its connection ends (BuddyClient's retries are the only ones), and
hands the body over as a stream. aiohttp has no public switch for its own resend of a GET: the pool
turns it off through a private attribute, pinned here, so that a rename in aiohttp fails a test
instead of passing silently. The same is asked of ``httpx-aiohttp``, the maintained package for such a
transport, to record why the bot keeps its own: it resends, and it calls a dropped connection a timeout.
"""

from __future__ import annotations

import warnings

import aiohttp
import httpx
import httpx_aiohttp
import pytest

from bot.buddy.pool import AiohttpTransport
from tests.fakes.buddy import TOKEN, FakeBuddy


def get(fake: FakeBuddy, path: str = "/user/token") -> httpx.Request:
    return httpx.Request("GET", fake.url + path, headers={"Authorization": f"Bearer {TOKEN}"})


async def read(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    response = await transport.handle_async_request(request)
    await response.aread()
    return response


async def test_a_get_whose_connection_drops_is_sent_once(fake_buddy: FakeBuddy):
    transport = AiohttpTransport(max_connections=10)
    try:
        fake_buddy.fault("/user/token", reset=True, times=1)  # a second call would be answered
        with pytest.raises(httpx.ReadError):
            await read(transport, get(fake_buddy))
        assert len(fake_buddy.calls()) == 1
    finally:
        await transport.aclose()


async def test_aiohttp_still_reads_the_private_switch_the_pool_turns_off():
    """``_retry_connection``: one of ClientSession's declared attributes, on by default, and settable
    without aiohttp's warning about custom attributes. Renamed, the pool's line would do nothing."""
    assert "_retry_connection" in aiohttp.ClientSession.ATTRS
    session = aiohttp.ClientSession()
    try:
        assert session._retry_connection is True
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            session._retry_connection = False
    finally:
        await session.close()


async def test_the_body_is_a_stream_and_one_left_unread_drops_only_its_connection(fake_buddy: FakeBuddy):
    transport = AiohttpTransport(max_connections=1)  # one connection: the next request needs it back
    try:
        fake_buddy.fault("/user/token", body_stream="endless", times=1)
        response = await transport.handle_async_request(get(fake_buddy))  # the headers only, at once
        assert response.status_code == 200
        first = await anext(aiter(response.stream))  # type: ignore[call-overload]
        assert first.startswith(b'{"log": ["')
        await response.aclose()
        after = await read(transport, get(fake_buddy))
        assert after.json()["name"] == "bot"
    finally:
        await transport.aclose()


async def test_a_body_is_handed_over_undecoded_for_the_client_to_inflate(fake_buddy: FakeBuddy):
    transport = AiohttpTransport(max_connections=10)
    try:
        fake_buddy.fault("/user/token", body_stream="gzip-bomb")
        response = await transport.handle_async_request(get(fake_buddy))
        first = await anext(aiter(response.stream))  # type: ignore[call-overload]
        await response.aclose()
        assert response.headers["content-encoding"] == "gzip" and first[:2] == b"\x1f\x8b"
    finally:
        await transport.aclose()


async def test_httpx_aiohttp_sends_a_get_again_when_its_connection_drops(fake_buddy: FakeBuddy):
    transport = httpx_aiohttp.AiohttpTransport(retries=0)  # its `retries` is stored, and not used
    try:
        fake_buddy.fault("/user/token", reset=True, times=1)
        response = await read(transport, get(fake_buddy))
        assert response.status_code == 200
        assert len(fake_buddy.calls()) == 2  # BUDDY_RETRIES would no longer bound the calls
    finally:
        await transport.aclose()


async def test_httpx_aiohttp_calls_a_dropped_connection_a_connect_timeout(fake_buddy: FakeBuddy):
    transport = httpx_aiohttp.AiohttpTransport()
    try:
        fake_buddy.fault("/user/token", reset=True)
        with pytest.raises(httpx.ConnectTimeout):  # the person would read "no answer within 10 s"
            await read(transport, get(fake_buddy))
    finally:
        await transport.aclose()
