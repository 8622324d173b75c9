"""The one connection pool to Buddy: an httpx transport over aiohttp's connection pool.

httpx's own pool (httpcore) walks every connection, for every queued request, each time a request
starts or ends, so its cost grows with the square of the requests in flight: with 200 lookups at once
it took most of the event loop (see ``bench/``). aiohttp's pool does not, and aiohttp already serves
the bot's HTTP side. BuddyClient still speaks httpx (requests, responses, errors), so a test can hand
it another transport.
"""

from __future__ import annotations

import asyncio
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            # Created at the first request, inside the running event loop, as aiohttp requires.
            # httpx decodes the body (Content-Encoding), as with its own transport.
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            # aiohttp quietly sends a GET again when its connection drops; BuddyClient's own retries
            # are the only ones, so that BUDDY_RETRIES bounds the calls (aiohttp has no public switch).
            self._session._retry_connection = False
        timeout = request.extensions.get("timeout", {})
        url = str(request.url)
        try:
            async with self._session.request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                proxy=self._proxy_for(url),
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"), sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            ) as response:
                body = await response.read()
        except asyncio.TimeoutError as exc:  # aiohttp's own timeouts derive from it
            raise httpx.TimeoutException(f"{type(exc).__name__}: {exc}", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        except aiohttp.ClientError as exc:  # reset, closed early, broken body
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=body,
            request=request,
            extensions={"reason_phrase": (response.reason or "").encode()},
        )

    def _proxy_for(self, url: str) -> str | None:
        """HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as httpx reads them; once per host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            bypass = bool(parts.hostname) and urllib.request.proxy_bypass(parts.hostname)
            self._proxies[key] = None if bypass else proxies.get(parts.scheme) or proxies.get("all")
        return self._proxies[key]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
