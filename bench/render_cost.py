"""How long turning a gathered run into what the bot posts takes: the summary message and the snippet."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.render.logtail import render_log_tail_and_title
from bot.render.summary import render_summary
from bot.report import RunReport

START = datetime(2025, 5, 28, 9, 51, 38, tzinfo=timezone.utc)
SECRET_KEY_REGEX = Settings(_env_file=None).secret_key_regex
MAX_LOG_LINES = Settings.model_fields["log_lines"].metadata[-1].le
NASTY = "<@U123> <!channel> *bold* _it_ ~s~ `c` & > ```fence``` :tada: https://example.com/?a=<b>&c "


@dataclass(frozen=True)
class RenderCost:
    name: str
    per_second: float

    @property
    def seconds_each(self) -> float:
        return 1 / self.per_second


def render(report: RunReport) -> tuple[dict, str, str]:
    """Everything one answer renders, as the bot does: the summary, the snippet and its title."""
    message = render_summary(report, secret_key_regex=SECRET_KEY_REGEX, requested_by="U123", interactive=True)
    return message, *render_log_tail_and_title(report)


def measure_render_cost(seconds: float, log_lines: int) -> list[RenderCost]:
    """The typical and the worst message at ``log_lines`` (LOG_LINES), and the worst at LOG_LINES' maximum."""
    cases = [
        (f"typical: an approved deploy, {log_lines} log lines", typical_report(log_lines)),
        (f"worst case: every text at its limit, {log_lines} huge log lines", worst_case_report(log_lines)),
        (f"extreme: the same with {MAX_LOG_LINES} huge log lines (LOG_LINES' maximum)", worst_case_report(MAX_LOG_LINES)),
    ]
    return [RenderCost(name, _rate(report, seconds)) for name, report in cases]


def _rate(report: RunReport, seconds: float) -> float:
    render(report)  # warm-up: compiled patterns, imports
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        render(report)
        count += 1
    return count / elapsed


def _action(**changes: Any) -> ActionExecution:
    data = {
        "url": "https://api.buddy.works/workspaces/acme/projects/web/pipelines/7/executions/12/action_executions/6836dca490f5896b4bb8e6a7",
        "html_url": "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/56fa374a99f1e10c105fb382/?actionExecutionId=6836dca490f5896b4bb8e6a7",
        "start_date": START.isoformat(),
        "finish_date": (START + timedelta(seconds=47)).isoformat(),
        "status": "SUCCESSFUL",
        "progress": 100,
        "action": {"id": 1, "name": "Deploy to production", "type": "SSH_COMMAND"},
        "approver_id": 1,
        "approval_date": (START + timedelta(seconds=5)).isoformat(),
        "passed_variables": [{"key": "ENV", "value": "production"}, {"key": "API_TOKEN", "value": "s3cr3t"}],
        "outputted_variables": [{"key": "BUDDY_APPROVING_ACTOR", "value": "Mike"}],
    }
    return ActionExecution.model_validate(data | changes)


def _execution(**changes: Any) -> Execution:
    data = {
        "id": 12,
        "status": "SUCCESSFUL",
        "start_date": START.isoformat(),
        "finish_date": (START + timedelta(minutes=2)).isoformat(),
        "html_url": "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/56fa374a99f1e10c105fb382",
        "branch": {"name": "main"},
        "creator": {"name": "Ann Example"},
        "to_revision": {
            "revision": "4bc2f8a1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3",
            "message": "Fix the build",
            "html_url": "https://github.com/acme/web/commit/4bc2f8a1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3",
        },
        "pipeline": {"id": 7, "name": "Deploy", "html_url": "https://app.buddy.works/acme/web/pipelines/pipeline/7"},
    }
    return Execution.model_validate(data | changes)


def typical_report(log_lines: int) -> RunReport:
    action = _action()
    ref = BuddyRef("app.buddy.works", "acme", "web", 7, "12", "6836dca490f5896b4bb8e6a7")
    tail = [f"[{i:05d}] deploying web-{i}.example.com … ok" for i in range(log_lines)]
    return RunReport(
        ref=ref, action=action, execution=_execution(), approver_name="Mike", log_tail=tail, log_total_lines=200, actions=[action]
    )


def worst_case_report(log_lines: int) -> RunReport:
    """An execution link (so the overview of all actions renders) whose every text is long and full of
    mrkdwn, 500 variables each way, a huge error, and ``log_lines`` coloured lines of 37,000 characters."""
    long = NASTY * 40
    variables = [{"key": f"VAR_{i}_{NASTY}", "value": long} for i in range(500)]
    action = _action(
        status="FAILED",
        error_message=NASTY * 2000,
        action={"id": 1, "name": long, "type": long},
        passed_variables=variables,
        outputted_variables=variables,
    )
    others = [_action(status=("FAILED" if i % 7 == 0 else "SUCCESSFUL"), action={"id": i, "name": long}) for i in range(2000)]
    execution = _execution(
        status="FAILED",
        comment=long,
        branch={"name": long},
        to_revision={"revision": "4bc2f8a", "message": long},
        creator={"name": long},
        pipeline={"id": 7, "name": long},
    )
    ref = BuddyRef("app.buddy.works", "acme", "web", 7, "12")
    tail = [f"\x1b[31m[{i:05d}]\x1b[0m " + long * 10 for i in range(log_lines)]
    return RunReport(
        ref=ref,
        action=action,
        execution=execution,
        approver_name=long,
        log_tail=tail,
        log_total_lines=100_000,
        actions=[*others, action],
        notes=[long] * 10,
    )
