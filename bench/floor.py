"""The floor under every acknowledgement figure: the bot's HTTP server, aiohttp, with one handler that
reads the body and answers 200 at once (no signature, no parsing, no state), in a process of its own,
sent the same burst by the same load generator. No bot on this server and machine can acknowledge a
burst faster than this."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection

from bench.load import Sent, send_commands

LISTEN_HOST = "127.0.0.1"
PATH = "/slack/events"


def http_floor(size: int, *, timeout_s: float = 30.0) -> list[Sent]:
    """``size`` requests at once (after a first burst that opens the connections), as the bot is sent them."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child,), daemon=True, name="http-floor")
    process.start()
    try:
        url = f"http://{LISTEN_HOST}:{parent.recv()}{PATH}"
        texts = ["floor"] * size
        asyncio.run(send_commands([url], texts, response_url="http://127.0.0.1/", channel_prefix="F", timeout_s=timeout_s))
        return asyncio.run(send_commands([url], texts, response_url="http://127.0.0.1/", channel_prefix="F", timeout_s=timeout_s))
    finally:
        process.kill()
        process.join(timeout=10)


def _serve(conn: Connection) -> None:
    from aiohttp import web

    async def main() -> None:
        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(text="")

        app = web.Application()
        app.router.add_post(PATH, answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, LISTEN_HOST, 0, backlog=1024)  # the bot's LISTEN_BACKLOG
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())
