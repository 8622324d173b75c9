"""Push: Buddy's workspace webhooks, received at ``POST /buddy/webhooks/<BUDDY_WEBHOOK_TOKEN>``.

Buddy's signing is undocumented (buddy-webhooks.md §2.4), so the unguessable token in the path is
what proves a delivery comes from the webhook the bot set up. A wrong token gets the same 404 as any
unknown path.

Deliveries are bounded, since finished runs carry every action's whole log inline. A delivery over
``BUDDY_WEBHOOK_MAX_MB`` gets 413: at once when its Content-Length says so, else as soon as the bytes
counted while streaming pass the cap. At most ``BUDDY_WEBHOOK_MAX_INFLIGHT`` are read at once; another
gets 503 with ``Retry-After``. A delivery is parsed as it streams in, its logs skipped (events.py), so
it is never held whole; it is answered 200 once read, and routing happens afterwards, one delivery at
a time in the order they were read. Every refusal is logged with what happens to the run next.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.subscriptions.events import RunEvent, WebhookReader, webhook_event
from bot.work.queue import Unit, WorkQueue

log = logging.getLogger(__name__)

WEBHOOK_ROUTE = "/buddy/webhooks/{token}"
WEBHOOK = "webhook"  # the kind of unit of work a delivery becomes
READ_CHUNK = 256 * 1024
RETRY_AFTER_S = 10  # a few deliveries take about this long to read; Buddy may not retry at all (undocumented)
_MB = 1024 * 1024


def _delivery_key(execution: dict[str, Any]) -> str:
    """The same delivery sent again (Buddy retrying) is the same unit; a new status is a new one."""
    digest = hashlib.sha256(json.dumps(execution, sort_keys=True, default=str).encode()).hexdigest()
    return f"{WEBHOOK}:{digest}"


def webhook_path(token: str) -> str:
    return WEBHOOK_ROUTE.format(token=token)


class WebhookReceiver:
    def __init__(
        self, settings: Settings, on_event: Callable[[RunEvent], Awaitable[None]], work: WorkQueue | None = None
    ) -> None:
        self._token = settings.buddy_webhook_token.encode()
        self.on_event = on_event
        # Each delivery taken is a unit of work before Buddy hears 200: a crash before it is routed
        # loses nothing, and the same delivery sent twice is routed once.
        self.work = work
        self.hosts = settings.buddy_hosts
        self.max_mb = settings.buddy_webhook_max_mb
        self.max_bytes = int(settings.buddy_webhook_max_mb * _MB)
        self.max_inflight = settings.buddy_webhook_max_inflight
        self.poll_seconds = settings.subscription_poll_seconds
        self._reading = 0
        # One worker takes deliveries in the order they were read, so a burst is announced in order.
        self._deliveries: asyncio.Queue[Unit | dict[str, Any]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_ROUTE, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["token"].encode(), self._token):
            raise web.HTTPNotFound()
        declared = request.content_length
        if declared is not None and declared > self.max_bytes:
            return self._too_large(f"it is {declared / _MB:.1f} MB, over BUDDY_WEBHOOK_MAX_MB ({self.max_mb:g} MB)")
        if self._reading >= self.max_inflight:
            return self._refuse(
                503,
                f"{self._reading} deliveries are being read already (BUDDY_WEBHOOK_MAX_INFLIGHT={self.max_inflight})",
                "raise BUDDY_WEBHOOK_MAX_INFLIGHT if bursts are usual",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._reading += 1
        try:
            execution, refusal = await self._read(request)
        except web.HTTPRequestTimeout:  # the body deadline (HTTP_BODY_TIMEOUT_S) answers 408
            self._log_lost(
                "refused with 408: its body did not arrive in time",
                "raise HTTP_BODY_TIMEOUT_S if Buddy's link to the bot is slow",
            )
            raise
        except ConnectionResetError:
            self._log_lost("broke off: the connection closed before its body ended", "nothing to do if it is rare")
            return web.Response(status=400, text="delivery broke off")  # nobody is left to read it
        finally:
            self._reading -= 1
        if refusal is not None:
            return self._too_large(refusal)
        if execution is not None:
            taken: Unit | dict[str, Any] | None = execution
            if self.work is not None:
                taken = await self.work.accept(WEBHOOK, _delivery_key(execution), execution)
            if taken is not None:  # None: this very delivery was taken before
                if self._worker is None:
                    self._worker = asyncio.create_task(self._work(), name="buddy-webhooks")
                self._deliveries.put_nowait(taken)
        return web.json_response({"ok": True})

    async def handle_unit(self, unit: Unit) -> None:
        """A delivery's work: routing its run (also what a take-over after a crash does)."""
        await self._route(unit.payload)

    async def _route(self, execution: dict[str, Any]) -> None:
        event = webhook_event(execution, hosts=self.hosts)
        if event is not None:
            log.info("webhook: %s is %s", event.run_url, event.status)
            await self.on_event(event)

    async def _read(self, request: web.Request) -> tuple[dict[str, Any] | None, str | None]:
        """Streams the body through the reader (aiohttp's own buffer stays small): the run kept, or why not.
        Read here rather than with request.read(): the app's client_max_size suits Slack's small requests."""
        reader = WebhookReader()
        size = 0
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                return None, f"it runs over BUDDY_WEBHOOK_MAX_MB ({self.max_mb:g} MB)"
            if (refusal := reader.feed(chunk)) is not None:
                return None, refusal
        return reader.finish()

    def _too_large(self, why: str) -> web.Response:
        return self._refuse(413, why, "raise BUDDY_WEBHOOK_MAX_MB if runs this large are usual")

    def _refuse(self, status: int, why: str, remedy: str, *, headers: dict[str, str] | None = None) -> web.Response:
        self._log_lost(f"refused with {status}: {why}", remedy)
        return web.Response(status=status, text=f"delivery refused: {why}", headers=headers)

    def _log_lost(self, what: str, remedy: str) -> None:
        """A delivery the bot did not take: what happened, and what happens to its run next."""
        if self.poll_seconds > 0:
            log.warning("webhook delivery %s; polling will catch the run within %g s (%s)", what, self.poll_seconds, remedy)
        else:
            log.warning(
                "webhook delivery %s; polling is off (SUBSCRIPTION_POLL_SECONDS=0), so the run may be missed "
                "(%s, or turn polling on)",
                what,
                remedy,
            )

    async def _work(self) -> None:
        while True:
            taken = await self._deliveries.get()
            try:
                if isinstance(taken, Unit):
                    assert self.work is not None
                    await self.work.run(taken)
                else:
                    await self._route(taken)
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
