"""The Buddy client against the fake Buddy API over real sockets: requests, errors, retries, limits."""

from __future__ import annotations

import pytest

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy, reset_header

HOST = "app.buddy.works"


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
