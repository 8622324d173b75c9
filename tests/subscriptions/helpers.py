"""RunEvents as the router gets them, without a server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.buddy.models import Execution
from bot.subscriptions.events import RunEvent, Source
from bot.subscriptions.store import PipelineKey

PIPELINE = PipelineKey("app.buddy.works", "acme", "web", 7)


def run_url(number: int, pipeline: PipelineKey = PIPELINE) -> str:
    return (f"https://{pipeline.host}/{pipeline.workspace}/{pipeline.project}/pipelines/pipeline/"
            f"{pipeline.pipeline_id}/execution/{number:024x}")


def event(number: int, status: str = "SUCCESSFUL", *, branch: str = "main", pipeline: PipelineKey = PIPELINE,
          finished_ago: float | None = -1.0, source: Source = "webhook") -> RunEvent:
    """Run ``number`` with ``status``; ``finished_ago`` seconds before now (negative: in the future,
    i.e. after any subscription made in the test), None for a run still going."""
    finish = None if finished_ago is None else datetime.now(timezone.utc) - timedelta(seconds=finished_ago)
    execution = Execution.model_validate({
        "id": number, "html_url": run_url(number, pipeline), "status": status if finish else "INPROGRESS",
        "start_date": datetime.now(timezone.utc).isoformat(), "finish_date": finish.isoformat() if finish else None,
        "branch": {"name": branch}, "pipeline": {"id": pipeline.pipeline_id, "name": "Deploy"},
    })
    return RunEvent(pipeline, run_url(number, pipeline), execution, source)
