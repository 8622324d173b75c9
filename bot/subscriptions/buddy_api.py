"""The Buddy calls subscriptions need beyond reading runs: a project's pipelines, and the workspace
webhook that pushes run events to the bot (buddy-webhooks.md §1)."""

from __future__ import annotations

import enum
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import WrapValidator

from bot.buddy.client import BuddyClient
from bot.buddy.models import BuddyModel, Int, Pipeline, Str, ValidItems
from bot.subscriptions.store import PipelineKey, Target

WEBHOOK_EVENTS = ("EXECUTION_STARTED", "EXECUTION_FINISHED")
PIPELINES_PAGE_SIZE = 100
PIPELINES_MAX_PAGES = 5

# Older Buddy pages type projects and events as numbers or strings; both are kept, as text.
Texts = Annotated[list[str], WrapValidator(lambda v, _h: [str(item) for item in v] if isinstance(v, list) else [])]


class PipelineList(BuddyModel):
    pipelines: Annotated[list[Pipeline], ValidItems] = []
    total_page_count: Int = None


class Webhook(BuddyModel):
    id: Int = None
    target_url: Str = None
    projects: Texts = []
    events: Texts = []

    def covers(self, project: str) -> bool:
        # An empty project list means every project (Buddy's Terraform provider docs).
        projects = {p.lower() for p in self.projects}
        return (not projects or project.lower() in projects) and set(WEBHOOK_EVENTS) <= set(self.events)


class WebhookList(BuddyModel):
    webhooks: Annotated[list[Webhook], ValidItems] = []


class WebhookSetup(enum.StrEnum):
    PRESENT = "present"
    CREATED = "created"
    EXTENDED = "extended"


async def pipelines_of(client: BuddyClient, target: Target) -> list[PipelineKey]:
    """The pipelines a target stands for: itself, or every pipeline of its project."""
    if target.pipeline_id:
        return [PipelineKey(target.host, target.workspace, target.project, target.pipeline_id)]
    path = f"/workspaces/{_seg(target.workspace)}/projects/{_seg(target.project)}/pipelines"
    found: list[PipelineKey] = []
    for page in range(1, PIPELINES_MAX_PAGES + 1):
        listing = PipelineList.model_validate(
            await client.get_json(target.host, path, {"page": page, "per_page": PIPELINES_PAGE_SIZE}) or {}
        )
        found += [PipelineKey(target.host, target.workspace, target.project, p.id) for p in listing.pipelines if p.id]
        if len(listing.pipelines) < PIPELINES_PAGE_SIZE or (listing.total_page_count or 0) <= page:
            break
    return found


async def ensure_webhook(client: BuddyClient, target: Target, target_url: str) -> WebhookSetup:
    """Makes Buddy push this project's run events to ``target_url``: reuses the bot's webhook when
    the workspace has one (adding the project if needed), else creates it. Raises BuddyError."""
    path = f"/workspaces/{_seg(target.workspace)}/webhooks"
    listing = WebhookList.model_validate(await client.get_json(target.host, path) or {})
    for listed in listing.webhooks:
        if listed.target_url != target_url or listed.id is None:
            continue
        # The list leaves out projects and events; the webhook itself has them.
        webhook = Webhook.model_validate(await client.get_json(target.host, f"{path}/{listed.id}") or {})
        if webhook.covers(target.project):
            return WebhookSetup.PRESENT
        projects = sorted({*webhook.projects, target.project}) if webhook.projects else []
        await client.send_json("PATCH", target.host, f"{path}/{listed.id}", _webhook_body(target_url, projects))
        return WebhookSetup.EXTENDED
    await client.send_json("POST", target.host, path, _webhook_body(target_url, [target.project]))
    return WebhookSetup.CREATED


def _webhook_body(target_url: str, projects: list[str]) -> dict[str, Any]:
    return {
        "target_url": target_url,
        "events": list(WEBHOOK_EVENTS),
        "projects": projects,
        # Some versions of Buddy's docs require a secret. How Buddy sends it is undocumented, so the
        # bot relies on the token in the URL instead, and this value is never checked.
        "secret_key": secrets.token_urlsafe(24),
    }


def _seg(value: str) -> str:
    """One path segment, so a handle can never add a segment or climb out of the path."""
    return quote(value, safe="")
