"""Setting up Buddy's workspace webhook on subscribe: created once, reused, extended to another
project, and a missing scope surfaces as Forbidden (the caller then tells the person what to add)."""

from __future__ import annotations

import json

import pytest

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.subscriptions.buddy_api import WebhookSetup, ensure_webhook
from bot.subscriptions.store import Target

URL = "https://bot.example.com/buddy/webhooks/secret-token-secret-token"


async def test_created_once_then_reused_then_extended_to_another_project(settings, fake_buddy):
    async with BuddyClient(settings) as client:
        assert await ensure_webhook(client, Target("app.buddy.works", "acme", "web", 7), URL) is WebhookSetup.CREATED
        assert await ensure_webhook(client, Target("app.buddy.works", "acme", "web"), URL) is WebhookSetup.PRESENT
        assert await ensure_webhook(client, Target("app.buddy.works", "acme", "api", 2), URL) is WebhookSetup.EXTENDED
        assert await ensure_webhook(client, Target("app.buddy.works", "acme", "api", 3), URL) is WebhookSetup.PRESENT
    [hook] = fake_buddy.webhooks["acme"]
    assert hook["target_url"] == URL and hook["projects"] == ["api", "web"]
    assert hook["events"] == ["EXECUTION_STARTED", "EXECUTION_FINISHED"]
    writes = [(c.method, c.path) for c in fake_buddy.calls("/webhooks") if c.method != "GET"]
    assert writes == [("POST", "/workspaces/acme/webhooks"), ("PATCH", f"/workspaces/acme/webhooks/{hook['id']}")]
    assert json.loads(fake_buddy.calls("/webhooks")[1].body)["projects"] == ["web"]


async def test_another_webhook_of_the_workspace_is_left_alone(settings, fake_buddy):
    fake_buddy.webhooks["acme"] = [{"id": 99, "target_url": "https://elsewhere.example.com/hook", "projects": [],
                                    "events": ["EXECUTION_FAILED"]}]
    async with BuddyClient(settings) as client:
        assert await ensure_webhook(client, Target("app.buddy.works", "acme", "web", 7), URL) is WebhookSetup.CREATED
    assert [h["target_url"] for h in fake_buddy.webhooks["acme"]] == ["https://elsewhere.example.com/hook", URL]
    assert fake_buddy.webhooks["acme"][0]["events"] == ["EXECUTION_FAILED"]


async def test_missing_webhook_scope_is_forbidden_and_nothing_is_written(settings, fake_buddy):
    fake_buddy.fault("/webhooks", status=403, body={"errors": [{"message": "Insufficient scope"}]})
    async with BuddyClient(settings) as client:
        with pytest.raises(errors.Forbidden):
            await ensure_webhook(client, Target("app.buddy.works", "acme", "web", 7), URL)
    assert fake_buddy.webhooks == {}
