"""The Buddy client against the fake Buddy API over real sockets: requests, errors, retries, limits."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy, reset_header

HOST = "app.buddy.works"


def _raw_deflate(data: bytes) -> bytes:
    """Deflate without zlib's header, as some servers send ``Content-Encoding: deflate``."""
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.fixture
async def client(settings):
    async with BuddyClient(settings) as client:
        yield client


async def test_fetches_action_execution_with_bearer_token(fake_buddy: FakeBuddy, client):
    action = FakeAction(name="Pass arguments", log=["Done"])
    run = fake_buddy.add_execution(actions=[action])
    details = await client.get_action_execution(HOST, "acme", "web", 7, run.id, action.ae_id)
    assert details.action.name == "Pass arguments" and details.log == ["Done"]
    [call] = fake_buddy.calls()
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.path == f"/workspaces/acme/projects/web/pipelines/7/executions/{run.id}/action_executions/{action.ae_id}"


async def test_path_segments_are_quoted(fake_buddy: FakeBuddy, client):
    with pytest.raises(errors.NotFound):
        await client.get_action_execution(HOST, "acme", "web", 7, 1, "../../../user/token")
    assert fake_buddy.calls()[0].path.endswith("/action_executions/..%2F..%2F..%2Fuser%2Ftoken")


async def test_an_id_with_a_lone_surrogate_is_quoted_not_a_crash(fake_buddy: FakeBuddy, client):
    """Buddy's JSON may carry ``"\\ud800"`` as an action execution id (found by test_wild_responses)."""
    with pytest.raises(errors.NotFound):
        await client.get_action_execution(HOST, "acme", "web", 7, 1, "\ud800")
    assert fake_buddy.calls()[0].path.endswith("/action_executions/%ED%A0%80")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(401, errors.Unauthorized), (403, errors.Forbidden), (404, errors.NotFound)],
)
async def test_error_statuses_map_to_typed_errors_with_buddys_message(fake_buddy, client, status, error_type):
    fake_buddy.fault("/executions/", status=status, body={"errors": [{"message": "API is disabled in this workspace"}]})
    with pytest.raises(error_type) as caught:
        await client.get_execution(HOST, "acme", "web", 7, 1)
    assert caught.value.message == "API is disabled in this workspace"
    assert len(fake_buddy.calls()) == 1  # client errors are never retried


async def test_5xx_is_retried_with_backoff_then_unavailable(fake_buddy, client, settings):
    fake_buddy.fault("/executions/", status=503)
    with pytest.raises(errors.Unavailable):
        await client.get_execution(HOST, "acme", "web", 7, 1)
    assert len(fake_buddy.calls()) == settings.buddy_retries + 1


async def test_transient_failure_recovers(fake_buddy, client):
    fake_buddy.add_execution()
    fake_buddy.fault("/executions/", status=502, times=1)
    fake_buddy.fault("/executions/", reset=True, times=1)
    execution = await client.get_execution(HOST, "acme", "web", 7, 1)
    assert execution.id == 1
    assert len(fake_buddy.calls()) == 3


async def test_timeout_becomes_unavailable(fake_buddy, settings):
    settings.buddy_timeout_s = 0.2
    settings.buddy_retries = 1
    fake_buddy.fault("/executions/", status=200, delay=1.0)
    async with BuddyClient(settings) as client:
        with pytest.raises(errors.Unavailable, match="no answer"):
            await client.get_execution(HOST, "acme", "web", 7, 1)


@pytest.mark.parametrize("raw", ["<html><body>502 Bad Gateway</body></html>", "{not json", "[1, 2, 3]"])
async def test_html_or_broken_json_is_a_bad_response(fake_buddy, client, raw):
    fake_buddy.fault("/executions/", status=200, raw=raw, content_type="text/html" if raw.startswith("<") else "application/json")
    with pytest.raises(errors.BadResponse):
        await client.get_execution(HOST, "acme", "web", 7, 1)


async def test_short_rate_limit_is_waited_out(fake_buddy, client):
    fake_buddy.add_execution()
    fake_buddy.fault("/executions/", status=429, headers=reset_header(1), times=1)
    execution = await client.get_execution(HOST, "acme", "web", 7, 1)
    assert execution.id == 1
    assert len(fake_buddy.calls()) == 2


async def test_long_rate_limit_is_reported_with_reset_and_holds_back_later_calls(fake_buddy, client):
    fake_buddy.fault("/executions/", status=429, headers=reset_header(600), times=1)
    with pytest.raises(errors.RateLimited) as caught:
        await client.get_execution(HOST, "acme", "web", 7, 1)
    assert 590 <= caught.value.retry_in_seconds <= 602
    with pytest.raises(errors.RateLimited):
        await client.get_execution(HOST, "acme", "web", 7, 2)
    assert len(fake_buddy.calls()) == 1  # the second call never left: Buddy had said not before the reset


async def test_unknown_host_is_refused_without_a_request(fake_buddy, client):
    with pytest.raises(errors.NotFound):
        await client.get_execution("evil.example.com", "acme", "web", 7, 1)
    assert not fake_buddy.calls()


async def test_per_host_token(fake_buddy, settings):
    settings.buddy_hosts = ("buddy.corp.example",)
    settings.buddy_host_tokens = {"buddy.corp.example": "corp-token"}
    fake_buddy.tokens.add("corp-token")
    fake_buddy.add_execution()
    async with BuddyClient(settings) as client:
        await client.get_execution("buddy.corp.example", "acme", "web", 7, 1)
    assert fake_buddy.calls()[0].headers["Authorization"] == "Bearer corp-token"


# -- bounded answers: one deadline per attempt, a cap on the decoded body ------------------------


async def test_a_drip_is_cut_off_by_the_deadline_of_each_attempt_whole(fake_buddy, settings):
    settings.buddy_timeout_s = 1.5  # one byte a second never trips a per-read timeout of 1.5 s
    settings.buddy_retries = 0  # (retries, each with its own deadline: tests/faults/test_buddy_bounds_e2e.py)
    fake_buddy.add_execution()
    fake_buddy.fault("/executions/", status=200, body_stream="drip")
    started = time.monotonic()
    async with BuddyClient(settings) as client:
        with pytest.raises(errors.Unavailable, match="no answer from 127.0.0.1 within 1.5 s"):
            await client.get_execution(HOST, "acme", "web", 7, 1)
    assert time.monotonic() - started < 1.5 + 1
    assert len(fake_buddy.calls()) == 1


@pytest.mark.parametrize("body_stream", ["endless", "gzip-bomb"])
async def test_a_body_over_the_cap_is_refused_once_and_not_retried(fake_buddy, settings, body_stream):
    settings.buddy_max_response_mb = 1
    fake_buddy.fault("/executions/", status=200, body_stream=body_stream)
    async with BuddyClient(settings) as client:
        with pytest.raises(errors.TooLarge, match="answered with more than 1 MB") as caught:
            await client.get_execution(HOST, "acme", "web", 7, 1)
        assert isinstance(caught.value, errors.BadResponse)
        assert len(fake_buddy.calls()) == 1
        fake_buddy.clear_faults()
        fake_buddy.add_execution()
        assert (await client.get_execution(HOST, "acme", "web", 7, 1)).id == 1  # the pool still serves


def answering(status: int, content: bytes, **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=content, headers=headers))


CAP = 10_000  # bytes, with buddy_max_response_mb = CAP / 2**20


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        pytest.param(gzip.compress(json.dumps({"id": 5, "comment": "x" * 5000}).encode()), "gzip", id="gzip"),
        pytest.param(zlib.compress(json.dumps({"id": 5, "comment": "x" * 5000}).encode()), "deflate", id="zlib-deflate"),
        pytest.param(_raw_deflate(json.dumps({"id": 5, "comment": "x" * 5000}).encode()), "deflate", id="raw-deflate"),
        pytest.param(b'{"id": 5}' + b" " * (CAP - 9), "", id="exactly-at-the-cap"),
    ],
)
async def test_bodies_within_the_cap_are_decoded(settings, content, encoding):
    settings.buddy_max_response_mb = CAP / 2**20
    headers = {"Content-Encoding": encoding} if encoding else {}
    async with BuddyClient(settings, transport=answering(200, content, **headers)) as client:
        assert (await client.get_execution(HOST, "acme", "web", 7, 5)).id == 5


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(b" " * CAP + b"{}", {}, id="one-byte-over"),
        pytest.param(gzip.compress(b" " * (CAP * 100) + b"{}"), {"Content-Encoding": "gzip"}, id="gzip-inflating-past-it"),
        pytest.param(zlib.compress(b" " * (CAP * 100) + b"{}"), {"Content-Encoding": "deflate"}, id="deflate-inflating-past-it"),
    ],
)
async def test_bodies_past_the_cap_are_too_large(settings, content, headers):
    settings.buddy_max_response_mb = CAP / 2**20
    async with BuddyClient(settings, transport=answering(200, content, **headers)) as client:
        with pytest.raises(errors.TooLarge):
            await client.get_execution(HOST, "acme", "web", 7, 5)


async def test_an_error_body_is_capped_too(settings):
    settings.buddy_max_response_mb = CAP / 2**20
    async with BuddyClient(settings, transport=answering(404, b" " * (CAP + 1))) as client:
        with pytest.raises(errors.TooLarge):
            await client.get_execution(HOST, "acme", "web", 7, 5)


async def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(settings):
    settings.buddy_max_response_mb = CAP / 2**20

    async def never_read() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover - makes this a generator

    class Stream(httpx.AsyncByteStream):
        def __aiter__(self) -> AsyncIterator[bytes]:
            return never_read()

    transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"Content-Length": str(CAP + 1)}, stream=Stream()))
    async with BuddyClient(settings, transport=transport) as client:
        with pytest.raises(errors.TooLarge):
            await client.get_execution(HOST, "acme", "web", 7, 5)


@pytest.mark.parametrize(
    ("encoding", "content"), [("br", b"{}"), ("zstd", b"{}"), ("gzip, gzip", gzip.compress(gzip.compress(b"{}", mtime=0), mtime=0))]
)
async def test_an_encoding_the_bot_did_not_ask_for_is_a_bad_response(settings, encoding, content):
    async with BuddyClient(settings, transport=answering(200, content, **{"Content-Encoding": encoding})) as client:
        with pytest.raises(errors.BadResponse, match="could not be decoded"):
            await client.get_execution(HOST, "acme", "web", 7, 5)


async def test_the_bot_asks_only_for_the_encodings_it_inflates(fake_buddy, client):
    fake_buddy.add_execution()
    await client.get_execution(HOST, "acme", "web", 7, 1)
    assert fake_buddy.calls()[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_each_retry_is_told_to_the_hook(fake_buddy, settings):
    told: list[tuple[int, int, str]] = []
    fake_buddy.fault("/executions/", status=503)
    async with BuddyClient(settings, on_retry=lambda n, of, why: told.append((n, of, why))) as client:
        with pytest.raises(errors.Unavailable):
            await client.get_execution(HOST, "acme", "web", 7, 1)
    assert [(n, of) for n, of, _ in told] == [(n, settings.buddy_retries) for n in range(1, settings.buddy_retries + 1)]
    assert all("127.0.0.1 answered 503" in why for _, _, why in told)
