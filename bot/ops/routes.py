"""``GET /health``, ``GET /ready`` and ``GET /metrics`` on the bot's aiohttp server.

``/health`` says the process is alive (its event loop answers): an orchestrator restarts the container
when it stops answering. ``/ready`` says this replica can take work now (``ready_check``: its state
store answers, it is not shutting down): a load balancer sends requests only to ready replicas, and
a replica that is not ready is left running.

``/metrics`` is Prometheus' text format (OpenMetrics when asked for). With ``METRICS_TOKEN`` it asks for
``Authorization: Bearer <METRICS_TOKEN>``; without one it answers only loopback peers (127.0.0.0/8,
::1). The peer is the TCP connection's other end: ``X-Forwarded-For`` is ignored, since anyone can
write it, so behind a proxy or load balancer the peer is the proxy, and a scrape through it needs
the token.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]
READY_TIMEOUT_S = 5.0  # below a load balancer's usual health-check timeout
_NO_STORE = {"Cache-Control": "no-store"}


def add_ops_routes(
    web_app: web.Application,
    *,
    metrics: Metrics,
    ready_check: ReadyCheck,
    metrics_token: str,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> None:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers=_NO_STORE)

    async def ready(_request: web.Request) -> web.Response:
        ok, reason = await _run_ready_check(ready_check, ready_timeout_s)
        if ok:
            return web.json_response({"ready": True}, headers=_NO_STORE)
        return web.json_response({"ready": False, "reason": reason}, status=503, headers=_NO_STORE)

    async def metrics_page(request: web.Request) -> web.Response:
        if metrics_token:
            if not bearer_matches(request.headers.get("Authorization"), metrics_token):
                return web.Response(
                    status=401,
                    text="/metrics needs the header Authorization: Bearer <METRICS_TOKEN>\n",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"', **_NO_STORE},
                )
        elif not is_loopback(request.remote):
            return web.Response(
                status=403,
                text="/metrics answers only 127.0.0.1 while METRICS_TOKEN is unset; set it to scrape from elsewhere\n",
                headers=_NO_STORE,
            )
        # Prometheus' text format, or OpenMetrics when the scraper's Accept asks for it.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type, **_NO_STORE})

    web_app.router.add_get("/health", health)
    web_app.router.add_get("/ready", ready)
    web_app.router.add_get("/metrics", metrics_page)


async def _run_ready_check(ready_check: ReadyCheck, timeout_s: float) -> tuple[bool, str]:
    """The check's own answer, or not ready when it fails or hangs (a hung check is a hung replica)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await ready_check()
    except TimeoutError:
        return False, f"the readiness check took longer than {timeout_s:g} s"
    except Exception as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return False, f"the readiness check failed ({type(exc).__name__})"


def is_loopback(remote: str | None) -> bool:
    """Whether a peer address (aiohttp's ``request.remote``) is this host's loopback."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])  # a zone suffix (``::1%lo``) is not an address
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ``::ffff:127.0.0.1`` from a dual-stack socket
    return address.is_loopback


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>``, compared in constant time."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())
