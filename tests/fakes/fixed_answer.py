"""A web server that gives every request the same answer: what a wrong address, a proxy's error page
or a captive portal sends back where Slack's API or the bot's own ``/health`` was expected."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.server import Recorded, ThreadedServer

HTML_PAGE = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Proxy sign-in</h1></body></html>"


class FixedAnswer:
    def __init__(self, status: int, content_type: str, body: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.content_type, self.body, self.headers = status, content_type, body, headers or {}
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._answer)
        self.server = ThreadedServer(app)

    def __enter__(self) -> FixedAnswer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url

    def paths(self) -> list[str]:
        return [r.path for r in self.server.matching(lambda r: True)]

    async def _answer(self, request: web.Request) -> web.Response:
        self.server.record(Recorded(request.method, request.path, dict(request.query), dict(request.headers), None))
        return web.Response(status=self.status, text=self.body, content_type=self.content_type, headers=self.headers)
