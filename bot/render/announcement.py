"""The channel message for a subscribed run: pipeline, branch, revision, who triggered it, status,
duration and a link, with "Now failing" / "Back to green" when a pipeline+branch changed colour."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.buddy.models import Execution
from bot.render.blocks import actions, button, context, fields_section, section
from bot.render.limits import MAX_BUTTON_URL
from bot.render.mrkdwn import esc, is_web_url, link
from bot.render.status import status_style
from bot.render.timing import run_duration
from bot.subscriptions.events import RunEvent
from bot.subscriptions.router import Change

NAME_CHARS = 200
SHORT_CHARS = 60
COMMIT_TITLE_CHARS = 150

_HEADLINES = {
    Change.FAILING: (":red_circle:", "🔴", "Now failing"),
    Change.FIXED: (":large_green_circle:", "🟢", "Back to green"),
}


def render_announcement(event: RunEvent, *, change: Change | None = None, now: datetime | None = None) -> dict:
    """`{"text": …, "blocks": […]}` for chat.postMessage and chat.update; `now` dates a run still going."""
    execution = event.execution
    style = status_style(event.status)
    key = event.pipeline
    name = _pipeline_name(event)
    number = f" #{execution.id}" if execution.id is not None else ""
    run_url = event.run_url
    title = f"{style.emoji} *{link(run_url, name + number)}* · {esc(style.label, SHORT_CHARS)}"
    if change is not None:
        emoji, _char, words = _HEADLINES[change]
        title = f"{emoji} *{words}* · {title}"
    blocks = [section(title)]
    fields = _fields(event, now or datetime.now(timezone.utc))
    if fields:
        blocks.append(fields_section(fields))
    blocks.append(context(f"{esc(key.workspace, NAME_CHARS)} / {esc(key.project, NAME_CHARS)}"))
    if is_web_url(run_url) and len(run_url) <= MAX_BUTTON_URL:
        blocks.append(actions([button("Open in Buddy", action_id="buddy_open", url=run_url)], block_id="buddy_run_actions"))
    return {"text": _fallback(event, name + number, change), "blocks": blocks}


def _fields(event: RunEvent, now: datetime) -> list[str]:
    execution = event.execution
    revision = execution.to_revision
    shown_revision = ""
    if revision is not None and revision.short:
        shown_revision = link(revision.html_url, f"`{esc(revision.short, SHORT_CHARS)}`")
        commit_title = (revision.message or "").strip().splitlines()[:1]
        if commit_title:
            shown_revision += f" {esc(commit_title[0], COMMIT_TITLE_CHARS)}"
    pipeline = execution.pipeline
    rows = [
        ("Pipeline", link(pipeline.html_url if pipeline else None, _pipeline_name(event))),
        ("Branch", esc(event.branch, NAME_CHARS)),
        ("Revision", shown_revision),
        ("Triggered by", esc(execution.creator.name if execution.creator else None, NAME_CHARS)),
        ("Status", f"{status_style(event.status).emoji} {esc(status_style(event.status).label, SHORT_CHARS)}"),
        ("Running", _running(execution) if not event.finished else ""),
        ("Duration", run_duration(execution, now) or ""),
    ]
    return [f"*{label}*\n{value}" for label, value in rows if value]


def _pipeline_name(event: RunEvent) -> str:
    pipeline = event.execution.pipeline
    return esc((pipeline.name if pipeline else None) or f"Pipeline {event.pipeline.pipeline_id}", NAME_CHARS)


def _running(execution: Execution) -> str:
    """The action under way: "2 of 3 · Unit tests", with its status when it waits for someone."""
    actions = execution.action_executions
    for number, action in enumerate(actions, start=1):
        status = (action.status or "").upper()
        if action.is_finished or status in {"ENQUEUED", "INITIAL"}:
            continue
        name = esc((action.action.name if action.action else None) or "(unnamed)", NAME_CHARS)
        waiting = "" if status == "INPROGRESS" else f" ({esc(status_style(status).label, SHORT_CHARS)})"
        return f"{number} of {len(actions)} · {name}{waiting}"
    return ""


def _fallback(event: RunEvent, name: str, change: Change | None) -> str:
    """The notification line: "🟢 Back to green · ✅ Deploy #12 · main · Successful"."""
    style = status_style(event.status)
    parts = [f"{style.char} {name}", esc(event.branch, NAME_CHARS), esc(style.label, SHORT_CHARS)]
    text = " · ".join(part for part in parts if part)
    if change is not None:
        _emoji, char, words = _HEADLINES[change]
        text = f"{char} {words} · {text}"
    return text
