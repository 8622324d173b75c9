"""Reports to render and ways to look at what came out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef
from bot.config import DEFAULT_SECRET_PATTERNS, Settings
from bot.report import RunReport

HERE = Path(__file__).parent
SECRET_KEY_REGEX = Settings(_env_file=None, secret_variable_patterns=DEFAULT_SECRET_PATTERNS).secret_key_regex
NOW = datetime(2025, 5, 28, 10, 0, tzinfo=timezone.utc)
SEED_REF = BuddyRef("app.buddy.works", "buddy", "company-website", 2, "56fa374a99f1e10c105fb382", "6836dca490f5896b4bb8e6a7")
EXECUTION_URL = "https://app.buddy.works/buddy/company-website/pipelines/pipeline/2/execution/56fa374a99f1e10c105fb382"


def seed_action() -> ActionExecution:
    """The example response of Buddy's "Get action execution details" page."""
    data = json.loads((HERE / "fixtures" / "seed_action_execution.json").read_text(encoding="utf-8"))
    return ActionExecution.model_validate(data)


def seed_execution(**changes: Any) -> Execution:
    data = {
        "url": "https://api.buddy.works/workspaces/buddy/projects/company-website/pipelines/2/executions/1",
        "html_url": EXECUTION_URL,
        "id": 1,
        "status": "SUCCESSFUL",
        "start_date": "2025-05-28T09:51:30Z",
        "finish_date": "2025-05-28T09:51:40Z",
        "branch": {"name": "master"},
        "to_revision": {
            "revision": "3f2c7a9e1b4d5c6a7e8f9a0b1c2d3e4f5a6b7c8d",
            "message": "Update the pricing page\n\nThe body of the commit message.",
            "html_url": "https://github.com/buddy/company-website/commit/3f2c7a9e1b4d5c6a7e8f9a0b1c2d3e4f5a6b7c8d",
        },
        "creator": {"name": "Mike Benson", "email": "mike@example.com"},
        "pipeline": {
            "id": 2,
            "name": "Deploy website",
            "html_url": "https://app.buddy.works/buddy/company-website/pipelines/pipeline/2",
        },
    }
    return Execution.model_validate(data | changes)


def seed_report(**changes: Any) -> RunReport:
    action = seed_action()
    fields = {
        "ref": SEED_REF,
        "action": action,
        "execution": seed_execution(),
        "approver_name": "Mike",
        "log_tail": list(action.log),
        "log_total_lines": len(action.log),
        "actions": [action],
    }
    return RunReport(**(fields | changes))


def action_execution(**data: Any) -> ActionExecution:
    """An action execution like the seed's, with `data` changed (model_validate, as from the API)."""
    base = json.loads((HERE / "fixtures" / "seed_action_execution.json").read_text(encoding="utf-8"))
    return ActionExecution.model_validate(base | data)


def text_objects(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every text object in the blocks (header, section text and fields, context, buttons)."""
    for block in message.get("blocks", []):
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "button":
                obj = obj["text"]
            if isinstance(obj, dict):
                yield obj


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """The texts Slack parses for links and mentions: the fallback text and every mrkdwn object."""
    texts = [obj["text"] for obj in text_objects(message) if obj["type"] == "mrkdwn"]
    return [message["text"], *texts] if "text" in message else texts


def check_golden(name: str, actual: Any) -> None:
    """Compare with tests/render/golden/<name>; UPDATE_GOLDEN=1 rewrites it (then eyeball the diff)."""
    path = HERE / "golden" / name
    text = actual if isinstance(actual, str) else json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
