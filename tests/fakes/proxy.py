"""A small round-robin load balancer in front of several bot replicas, as a real HTTP server on
127.0.0.1: each request goes to the next replica in turn (a retry of a request therefore reaches
another replica than the first delivery did); a replica that does not answer is skipped."""

from __future__ import annotations

import itertools

import aiohttp
from aiohttp import web

from tests.fakes.server import ThreadedServer

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._turn = itertools.count()
        self.sent_to: list[str] = []  # the backend each request went to, in order
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self.server = ThreadedServer(app)
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> RoundRobinProxy:
        self.server.start()
        return self

    def stop(self) -> None:
        if self._session is not None:
            import asyncio

            asyncio.run_coroutine_threadsafe(self._session.close(), self.server._loop).result(timeout=10)
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url

    async def _forward(self, request: web.Request) -> web.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        first = next(self._turn)
        for attempt in range(len(self.backends)):
            backend = self.backends[(first + attempt) % len(self.backends)]
            try:
                async with self._session.request(request.method, backend + request.path_qs, data=body, headers=headers) as answer:
                    text = await answer.read()
                    self.sent_to.append(backend)
                    return web.Response(status=answer.status, body=text, content_type=answer.content_type)
            except aiohttp.ClientError:
                continue  # that replica is down: the next one
        return web.Response(status=502, text="no replica answered")
