"""Push: Buddy's workspace webhooks, received at ``POST /buddy/webhooks/<BUDDY_WEBHOOK_TOKEN>``.

Buddy's signing is undocumented (buddy-webhooks.md §2.4), so the unguessable token in the path is
what proves a delivery comes from the webhook the bot set up. A wrong token gets the same 404 as any
unknown path. A delivery is answered 200 as soon as it is read; parsing (bodies with inline logs run
to tens of megabytes) and announcing happen afterwards, one delivery at a time in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bot.subscriptions.events import RunEvent, parse_webhook

log = logging.getLogger(__name__)

WEBHOOK_ROUTE = "/buddy/webhooks/{token}"
MAX_BODY_BYTES = 128 * 1024 * 1024  # a finished run carries every action's whole log
READ_CHUNK = 1024 * 1024


def webhook_path(token: str) -> str:
    return WEBHOOK_ROUTE.format(token=token)


class WebhookReceiver:
    def __init__(self, token: str, on_event: Callable[[RunEvent], Awaitable[None]], *, hosts: Iterable[str] = ()) -> None:
        self._token = token.encode()
        self.on_event = on_event
        self.hosts = tuple(hosts)
        # One worker takes deliveries in the order they arrived, so a burst is announced in order.
        self._deliveries: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_ROUTE, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"].encode(), self._token):
            raise web.HTTPNotFound()
        # Read here rather than with request.read(): the app's client_max_size suits Slack's small
        # requests, and only this route needs room for big logs.
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(READ_CHUNK):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=size)
            chunks.append(chunk)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="buddy-webhooks")
        self._deliveries.put_nowait(b"".join(chunks))
        return web.json_response({"ok": True})

    async def _work(self) -> None:
        while True:
            body = await self._deliveries.get()
            try:
                # Parsing tens of megabytes would hold up every other request; a thread keeps the loop free.
                event = await asyncio.to_thread(parse_webhook, body, hosts=self.hosts)
                del body  # the logs are dropped; the raw delivery need not outlive the parse
                if event is not None:
                    log.info("webhook: %s is %s", event.run_url, event.status)
                    await self.on_event(event)
            except Exception:
                log.exception("a webhook delivery could not be handled")
            finally:
                self._deliveries.task_done()

    async def close(self) -> None:
        """Lets deliveries already accepted be routed (quick once parsed); the rest come back by polling."""
        if self._worker is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._deliveries.join(), timeout=5)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
