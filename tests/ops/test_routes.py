"""/health, /ready and /metrics, served by a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from bot.ops.metrics import Metrics
from bot.ops.routes import add_ops_routes, bearer_matches, is_loopback

TOKEN = "metrics-token-for-tests-0123456789"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Readiness:
    """A ready_check whose answer the test sets."""

    def __init__(self) -> None:
        self.answer: tuple[bool, str] = (True, "")
        self.calls = 0

    async def __call__(self) -> tuple[bool, str]:
        self.calls += 1
        return self.answer


@asynccontextmanager
async def serve(
    *,
    metrics: Metrics | None = None,
    ready_check: Callable[[], Awaitable[tuple[bool, str]]] | None = None,
    metrics_token: str = "",
    peer: str | None = None,
    ready_timeout_s: float = 5.0,
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The ops routes on a free port of 127.0.0.1; ``peer`` makes requests look as if they came
    from that address, the way a proxy-aware middleware rewrites ``request.remote``."""
    middlewares = []
    if peer is not None:

        @web.middleware
        async def from_peer(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await handler(request.clone(remote=peer))

        middlewares.append(from_peer)
    web_app = web.Application(middlewares=middlewares)
    add_ops_routes(
        web_app,
        metrics=metrics or Metrics(),
        ready_check=ready_check or Readiness(),
        metrics_token=metrics_token,
        ready_timeout_s=ready_timeout_s,
    )
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession(trust_env=False) as session:
            yield f"http://127.0.0.1:{port}", session
    finally:
        await runner.cleanup()


async def test_health_answers_while_the_process_is_alive() -> None:
    async with serve() as (base, session):
        async with session.get(f"{base}/health") as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}
            assert response.headers["Cache-Control"] == "no-store"


async def test_ready_follows_the_ready_check() -> None:
    readiness = Readiness()
    async with serve(ready_check=readiness) as (base, session):
        async with session.get(f"{base}/ready") as response:
            assert response.status == 200
            assert await response.json() == {"ready": True}

        readiness.answer = (False, "the database does not answer")
        async with session.get(f"{base}/ready") as response:
            assert response.status == 503
            assert await response.json() == {"ready": False, "reason": "the database does not answer"}

        readiness.answer = (True, "")
        async with session.get(f"{base}/ready") as response:
            assert response.status == 200
    assert readiness.calls == 3  # asked afresh each time, never cached


async def test_a_failing_readiness_check_is_not_ready_and_says_why() -> None:
    async def broken() -> tuple[bool, str]:
        raise ConnectionRefusedError("postgres://user:hunter2@db/buddy")

    async with serve(ready_check=broken) as (base, session):
        async with session.get(f"{base}/ready") as response:
            assert response.status == 503
            body = await response.json()
    assert body == {"ready": False, "reason": "the readiness check failed (ConnectionRefusedError)"}
    assert "hunter2" not in str(body)


async def test_a_hanging_readiness_check_is_not_ready_within_its_timeout() -> None:
    async def hangs() -> tuple[bool, str]:
        await asyncio.Event().wait()
        return True, ""

    async with serve(ready_check=hangs, ready_timeout_s=0.2) as (base, session):
        started = time.monotonic()
        async with session.get(f"{base}/ready") as response:
            assert response.status == 503
            assert await response.json() == {"ready": False, "reason": "the readiness check took longer than 0.2 s"}
        assert time.monotonic() - started < 0.2 + 2


async def test_metrics_without_a_token_answer_loopback_in_prometheus_format() -> None:
    metrics = Metrics()
    metrics.slack_request("command", 200, 0.3)
    metrics.buddy_call("/workspaces/acme/members/5", 200)
    async with serve(metrics=metrics) as (base, session):
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
        async with session.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await response.text()).endswith("# EOF\n")
    assert 'buddy_bot_slack_requests_total{kind="command",outcome="2xx"} 1.0' in text
    assert 'buddy_bot_buddy_calls_total{endpoint="/workspaces/:id/members/:id",status="200"} 1.0' in text


async def test_metrics_without_a_token_refuse_a_peer_that_is_not_loopback() -> None:
    async with serve(peer="10.1.2.3") as (base, session):
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 403
            assert "METRICS_TOKEN" in await response.text()
        async with session.get(f"{base}/health") as response:
            assert response.status == 200  # /health and /ready are for load balancers anywhere


async def test_metrics_with_a_token_ask_for_it() -> None:
    async with serve(metrics_token=TOKEN) as (base, session):
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Authorization: Bearer <METRICS_TOKEN>" in await response.text()
        for wrong in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer ünïcode"):
            async with session.get(f"{base}/metrics", headers={"Authorization": wrong}) as response:
                assert response.status == 401, wrong
        async with session.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            assert "buddy_bot_slack_requests_total" in await response.text()


async def test_metrics_with_a_token_answer_it_from_any_peer() -> None:
    async with serve(metrics_token=TOKEN, peer="10.1.2.3") as (base, session):
        async with session.get(f"{base}/metrics", headers={"Authorization": f"bearer {TOKEN}"}) as response:
            assert response.status == 200
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 401


@pytest.mark.parametrize(
    ("remote", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("172.18.0.3", False),  # a proxy or load balancer on a container network
        ("192.168.1.20", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
        ("2001:db8::1", False),
        ("localhost", False),  # aiohttp gives addresses, never names
        ("", False),
        (None, False),  # a Unix socket peer has no address
    ],
)
def test_only_loopback_peers_count_as_local(remote: str | None, loopback: bool) -> None:
    assert is_loopback(remote) is loopback


def test_the_bearer_token_must_match_exactly() -> None:
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert bearer_matches(f"  bearer   {TOKEN} ", TOKEN)
    assert not bearer_matches(None, TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not bearer_matches(f"Token {TOKEN}", TOKEN)
    assert not bearer_matches("Bearer ✓", TOKEN)
