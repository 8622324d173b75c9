"""Executions as Buddy sends them (webhook or API), with the actions and the commit a test needs."""

from __future__ import annotations

from typing import Any

from bot.buddy.models import Execution
from bot.subscriptions.store import PipelineKey

PIPELINE = PipelineKey("app.buddy.works", "acme", "web", 7)
REVISION = "4bc2f8a1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3"
OTHER_REVISION = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"


def run(number: int, *actions: tuple[int, str], status: str | None = None, revision: str = REVISION,
        listed_actions: bool = True, **extra: Any) -> Execution:
    """Run ``number`` at ``revision`` whose actions (action id, status) are listed (or, as the
    executions list has them, not)."""
    overall = status or ("FAILED" if any(s == "FAILED" for _, s in actions) else "SUCCESSFUL")
    body: dict[str, Any] = {
        "id": number, "status": overall, "start_date": "2025-05-28T09:51:38Z", "finish_date": "2025-05-28T09:53:38Z",
        "to_revision": {"revision": revision, "short_revision": revision[:7]}, **extra,
    }
    if listed_actions:
        body["action_executions"] = [
            {"status": s, "action": {"id": action_id, "name": f"Action {action_id}"}} for action_id, s in actions
        ]
    return Execution.model_validate(body)
