"""All actions of an execution, one line each, for a link to a whole execution or pipeline."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.buddy.models import ActionExecution
from bot.render.blocks import Block, section
from bot.render.mrkdwn import esc, fit_lines
from bot.render.status import status_style
from bot.render.timing import as_utc, run_duration
from bot.report import RunReport

# Keeps the summary far below Slack's total text limit even with thousands of actions.
OVERVIEW_CHARS = 1500
MAX_ACTION_NAME = 100


def render_overview(report: RunReport, *, now: datetime | None = None) -> list[Block]:
    """A section listing `report.actions` (status, name, duration), failed ones in bold; [] if none."""
    if not report.actions:
        return []
    now = as_utc(now) or datetime.now(timezone.utc)
    # A line takes more than 10 characters, so later ones could never be shown: skip formatting them.
    lines = [_line(action, now) for action in report.actions[: OVERVIEW_CHARS // 10]]
    count = len(report.actions)
    return [section(f"*Actions ({count:,})*\n" + fit_lines(lines, OVERVIEW_CHARS, total=count))]


def _line(action: ActionExecution, now: datetime) -> str:
    style = status_style(action.status)
    name = esc(action.action.name if action.action is not None else None, MAX_ACTION_NAME) or "(unnamed action)"
    failed = style.code == "FAILED"
    line = f"{style.emoji} *{name}*" if failed else f"{style.emoji} {name}"
    duration = run_duration(action, now)
    if duration:
        line += f" · {duration}"
    return f"{line}  ← failed" if failed else line
