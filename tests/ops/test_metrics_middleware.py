"""Slack requests through a real Bolt app and the bot's aiohttp server are counted and timed to their ack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.ops.metrics import Metrics
from bot.slack.metrics_middleware import register, request_kind
from bot.slack.runner import EVENTS_PATH, http_app
from tests.fakes.signing import FORM, JSON, event_callback_body, signed_headers, slash_command_body
from tests.fakes.slack import FakeSlack

SECRET = "signing-secret-for-metrics-tests"
BEFORE_ACK_S = 0.2


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@asynccontextmanager
async def bot_server(fake_slack: FakeSlack, metrics: Metrics) -> AsyncIterator[tuple[str, aiohttp.ClientSession, asyncio.Event]]:
    """A Bolt app whose /buddy listener waits BEFORE_ACK_S, acknowledges, then keeps working until the
    yielded event is set; measured by ``register`` and served by the runner's ``http_app``."""
    release = asyncio.Event()
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-metrics-test", base_url=fake_slack.url),
        signing_secret=SECRET,
        process_before_response=False,
    )

    @app.command("/buddy")
    async def buddy(ack, body) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(BEFORE_ACK_S)
        await ack()
        await release.wait()  # work after the acknowledgement is not part of its latency

    @app.event("app_mention")
    async def mention(ack) -> None:  # type: ignore[no-untyped-def]
        await ack()

    register(app, metrics)
    runner = web.AppRunner(http_app(app, Settings(_env_file=None)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession(trust_env=False) as session:
            yield f"http://127.0.0.1:{port}{EVENTS_PATH}", session, release
    finally:
        release.set()
        await asyncio.sleep(0)  # let the released listener finish before the server goes
        await runner.cleanup()


async def post(session: aiohttp.ClientSession, url: str, body: str, content_type: str, secret: str = SECRET) -> int:
    headers = {"Content-Type": content_type, **signed_headers(secret, body)}
    async with session.post(url, data=body.encode(), headers=headers) as response:
        return response.status


async def test_a_command_is_counted_and_timed_up_to_its_acknowledgement(fake_slack: FakeSlack) -> None:
    metrics = Metrics()
    async with bot_server(fake_slack, metrics) as (url, session, release):
        assert await post(session, url, slash_command_body("help"), FORM) == 200
        # Answered and measured while the listener is still at work after its ack().
        assert not release.is_set()
        assert value(metrics, "buddy_bot_slack_requests_total", kind="command", outcome="2xx") == 1.0
        assert value(metrics, "buddy_bot_ack_seconds_count", kind="command") == 1.0
        assert (value(metrics, "buddy_bot_ack_seconds_sum", kind="command") or 0.0) >= BEFORE_ACK_S


async def test_events_and_refused_requests_are_counted_by_kind_and_outcome(fake_slack: FakeSlack) -> None:
    metrics = Metrics()
    mention = event_callback_body({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.1"})
    unknown = event_callback_body({"type": "reaction_added", "user": "U1", "reaction": "eyes"})
    unknown_payload = json.dumps({"type": "<script>alert(1)</script>", "team_id": "T123"})
    async with bot_server(fake_slack, metrics) as (url, session, _release):
        assert await post(session, url, mention, JSON) == 200
        assert await post(session, url, unknown, JSON) == 404  # no listener for it
        assert await post(session, url, slash_command_body("help"), FORM, secret="not-the-secret") == 401
        assert await post(session, url, unknown_payload, JSON) == 404

    assert value(metrics, "buddy_bot_slack_requests_total", kind="event:app_mention", outcome="2xx") == 1.0
    assert value(metrics, "buddy_bot_slack_requests_total", kind="event:other", outcome="4xx") == 1.0
    assert value(metrics, "buddy_bot_slack_requests_total", kind="command", outcome="4xx") == 1.0
    assert value(metrics, "buddy_bot_slack_requests_total", kind="other", outcome="4xx") == 1.0
    assert "<script>" not in generate_latest(metrics.registry).decode()


def test_request_kinds_come_from_a_fixed_set() -> None:
    assert request_kind({"command": "/buddy", "text": "help"}) == "command"
    assert request_kind({"type": "event_callback", "event": {"type": "link_shared"}}) == "event:link_shared"
    assert request_kind({"type": "event_callback", "event": "not an object"}) == "event:other"
    assert request_kind({"type": "block_actions", "actions": []}) == "block_actions"
    assert request_kind({"type": "view_submission"}) == "view_submission"
    assert request_kind({"ssl_check": "1"}) == "ssl_check"
    assert request_kind({"type": "made_up"}) == "other"
    assert request_kind({}) == "other"
