"""What Buddy's workspace webhooks POST, built from a FakeExecution, and a way to deliver it.

The shape follows buddy-webhooks.md §2.2 (the 2016 docs sample and the 2017 captures): workspace,
invoker, project, current_date and the execution with its pipeline, revisions and action executions,
each with its whole log inline. No field names the event; the status does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any

from tests.fakes.buddy import FakeBuddy, FakeExecution, iso

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def execution_payload(
    fake: FakeBuddy, run: FakeExecution, ws: str = "acme", project: str = "web", pipeline_id: int = 7,
    *, branch_as_string: bool = False,
) -> dict[str, Any]:
    web = f"https://{fake.web_host}"
    person = {"url": f"{fake.url}/user", "html_url": f"{web}/profile/3", "id": 3, "name": run.creator,
              "avatar_url": f"{web}/image-server/user/3", "title": "", "email": "ann@example.com"}
    revision = {"url": "", "html_url": f"https://github.com/acme/web/commit/{run.revision}", "revision": run.revision,
                "short_revision": run.revision[:7], "message": run.message,
                "committer": {"name": run.creator, "title": run.creator, "email": "ann@example.com"},
                "author": {"title": run.creator, "email": "ann@example.com"}, "tags": []}
    pipeline_url = f"{web}/{ws}/{project}/pipelines/pipeline/{pipeline_id}"
    started = run.status not in {"ENQUEUED", "INITIAL"}
    return {
        "workspace": {"url": f"{fake.url}/workspaces/{ws}", "html_url": f"{web}/{ws}", "id": 1, "name": ws.title(), "domain": ws},
        "invoker": person,
        "project": {"url": f"{fake.url}/workspaces/{ws}/projects/{project}", "html_url": f"{web}/{ws}/{project}",
                    "name": project, "display_name": project.title(), "status": "ACTIVE"},
        "current_date": iso(datetime.now(timezone.utc)),
        "execution": {
            "url": f"{fake.url}/workspaces/{ws}/projects/{project}/pipelines/{pipeline_id}/executions/{run.web_id}",
            "html_url": fake.html_url(ws, project, pipeline_id, run),
            "id": run.id,
            "start_date": iso(run.start),
            "finish_date": iso(run.finish) if run.status not in {"INPROGRESS", "ENQUEUED"} else None,
            "mode": "ON_EVERY_PUSH",
            "refresh": False,
            "status": run.status,
            "comment": "",
            "branch": run.branch if branch_as_string else {"url": "", "html_url": "", "name": run.branch, "default": run.branch == "master"},
            "from_revision": revision,
            "to_revision": revision,
            "creator": person,
            "pipeline": {"url": f"{fake.url}/workspaces/{ws}/projects/{project}/pipelines/{pipeline_id}", "html_url": pipeline_url,
                         "id": pipeline_id, "name": run.pipeline_name, "trigger_mode": "ON_EVERY_PUSH", "ref_name": run.branch,
                         "last_execution_status": run.status, "last_execution_revision": run.revision,
                         "always_from_scratch": False, "no_skip_to_most_recent": False, "auto_clear_cache": False},
            "action_executions": [
                {"status": a.status if started else "ENQUEUED", "progress": 100 if a.finish else 0,
                 "action": {"url": "", "html_url": f"{pipeline_url}/action/{a.action_id}/edit", "id": a.action_id,
                            "name": a.name, "type": a.type, "trigger_time": "ON_EVERY_EXECUTION",
                            "last_execution_status": a.status, "disabled": False, "trigger_condition": "ALWAYS"},
                 "log": list(a.log) if started else [],
                 "log_url": f"{fake.html_url(ws, project, pipeline_id, run)}/action/{a.action_id}/logs"}
                for a in run.actions
            ],
        },
    }


def push_payload(ws: str = "acme", project: str = "web") -> dict[str, Any]:
    return {"workspace": {"domain": ws}, "project": {"name": project}, "ref": "refs/heads/master", "push_id": 1,
            "operation": "UPDATE", "commits_count": 1, "commits": [{"revision": "4bc2f8a", "message": "Fix"}]}


def post_webhook(url: str, payload: dict[str, Any] | bytes) -> tuple[int, str]:
    """POSTs a delivery the way Buddy does (JSON); returns (HTTP status, body)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
