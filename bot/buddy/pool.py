"""The one connection pool to Buddy: an httpx transport over aiohttp's connection pool.

httpx's own pool (httpcore) walks every connection, for every queued request, each time a request
starts or ends, so its cost grows with the square of the requests in flight: with 200 lookups at once
it took most of the event loop (see ``bench/``). aiohttp's pool does not, and aiohttp already serves
the bot's HTTP side. BuddyClient still speaks httpx (requests, responses, errors), so a test can hand
it another transport.

The body is handed over as a stream, undecoded: BuddyClient reads it under its size cap and its
deadline, and whatever it leaves unread is dropped with the connection. ``httpx-aiohttp`` offers such a
transport too, but resends a GET when its connection drops and reports a dropped connection as a
connect timeout (see ``tests/buddy/test_transport.py``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        try:
            response = await self._pool().request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                proxy=self._proxy_for(url),
            )
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        except aiohttp.ClientError as exc:  # reset, closed before the headers
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"reason_phrase": (response.reason or "").encode()},
        )

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Created at the first request, inside the running event loop, as aiohttp requires. No
            # timeout of aiohttp's: BuddyClient puts one deadline on each attempt, from connect to the
            # last byte (aiohttp's read timeout starts again with every byte). BuddyClient decodes
            # the body (Content-Encoding) itself, counting what it inflates.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None),
            )
            # aiohttp quietly sends a GET again when its connection drops; BuddyClient's own retries
            # are the only ones, so that BUDDY_RETRIES bounds the calls. aiohttp has no public switch;
            # tests/buddy/test_transport.py fails when this attribute stops doing that.
            self._session._retry_connection = False
        return self._session

    def _proxy_for(self, url: str) -> str | None:
        """HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as httpx reads them; once per host."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        key = (parts.scheme, host)
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            bypass = bool(host) and urllib.request.proxy_bypass(host)
            self._proxies[key] = None if bypass else proxies.get(parts.scheme) or proxies.get("all")
        return self._proxies[key]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives, in the pieces aiohttp has buffered (tens of kB)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:  # reset mid-body, a broken chunked encoding
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=self._request) from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to its end: the connection goes back to the pool
        else:
            self._response.close()  # left mid-answer (refused, timed out): the connection can only be dropped
