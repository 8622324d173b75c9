"""The channel message for a subscribed run: pipeline, branch, revision and whose commit it is, who
triggered it, status, duration and a link, with "Now failing" / "Back to green" when a
pipeline+branch changed colour; a failure says when its action is flaky and offers "I'm on it".

Also the DM to the author of the commit that broke it, and what a claim ("I'm on it") looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from bot.actions.operations import run_status
from bot.buddy.models import Execution
from bot.render.actions import operation_buttons
from bot.render.blocks import CLAIM_ACTION, OPEN_ACTION, Block, actions, button, context, fields_section, section
from bot.render.limits import MAX_BUTTON_URL, MAX_BUTTON_VALUE
from bot.render.mrkdwn import esc, is_web_url, link
from bot.render.status import status_style
from bot.render.timing import run_duration
from bot.render.why import why_blocks
from bot.subscriptions.events import RunEvent
from bot.subscriptions.router import FAILED, Change
from bot.why.authors import SLACK_USER_ID, Author, commit_author
from bot.why.flaky import FlakyAction
from bot.why.model import Why

NAME_CHARS = 200
SHORT_CHARS = 60
COMMIT_TITLE_CHARS = 150
MAX_FLAKY_NOTES = 5
MAX_KEPT_BLOCKS = 48  # of a claimed message's blocks, leaving room for the claim (Slack allows 50)
CLAIMED_BLOCK = "buddy_claimed"

_HEADLINES = {
    Change.FAILING: (":red_circle:", "🔴", "Now failing"),
    Change.FIXED: (":large_green_circle:", "🟢", "Back to green"),
}


def render_announcement(
    event: RunEvent,
    *,
    change: Change | None = None,
    now: datetime | None = None,
    author: Author | None = None,
    mention: bool = False,
    flaky: Sequence[FlakyAction] = (),
) -> dict:
    """`{"text": …, "blocks": […]}` for chat.postMessage and chat.update; `now` dates a run still going.

    ``author`` is the commit's author (as Slack knows them, when it does; else as the commit says);
    ``mention`` makes the name a mention, for a failure's announcement only. ``flaky`` are the failed
    actions that fail, then pass on retry.
    """
    execution = event.execution
    author = author or commit_author(execution)
    style = status_style(event.status)
    key = event.pipeline
    name = _pipeline_name(event)
    number = f" #{execution.id}" if execution.id is not None else ""
    run_url = event.run_url
    title = f"{style.emoji} *{link(run_url, name + number)}* · {esc(style.label, SHORT_CHARS)}"
    if change is not None:
        emoji, _char, words = _HEADLINES[change]
        title = f"{emoji} *{words}* · {title}"
    blocks: list[Block] = [section(title)]
    credit = _credit(author, mention)
    fields = _fields(event, now or datetime.now(timezone.utc), credit)
    if fields:
        blocks.append(fields_section(fields))
    for action in flaky[:MAX_FLAKY_NOTES]:
        blocks.append(context(_flaky_line(action)))
    blocks.append(context(f"{esc(key.workspace, NAME_CHARS)} / {esc(key.project, NAME_CHARS)}"))
    buttons = _buttons(event)
    if buttons:
        blocks.append(actions(buttons, block_id="buddy_run_actions"))
    text = _fallback(event, name + number, change)
    if mention and credit:
        text += f" · {credit} {esc(author.short_revision if author else None, SHORT_CHARS)}".rstrip()
    return {"text": text, "blocks": blocks}


def render_author_dm(event: RunEvent, author: Author, why: Why | None) -> dict:
    """The DM to the author of the commit that broke a pipeline: which run, why it failed, Open,
    Retry and "I'm on it"."""
    style = status_style(event.status)
    name = _pipeline_name(event)
    number = f" #{event.execution.id}" if event.execution.id is not None else ""
    commit = f" `{esc(author.short_revision, SHORT_CHARS)}`" if author.short_revision else ""
    branch = f" on `{esc(event.branch, NAME_CHARS)}`" if event.branch else ""
    headline = f"{style.emoji} Your commit{commit} broke *{link(event.run_url, name + number)}*{branch}."
    blocks: list[Block] = [section(headline), *why_blocks(why)]
    blocks.append(context(f"{esc(event.pipeline.workspace, NAME_CHARS)} / {esc(event.pipeline.project, NAME_CHARS)}"))
    buttons = _buttons(event)
    if buttons:
        blocks.append(actions(buttons, block_id="buddy_dm_actions"))
    shown = f" {esc(author.short_revision, SHORT_CHARS)}" if author.short_revision else ""
    text = f"{style.char} Your commit{shown} broke {name + number}"
    return {"text": text, "blocks": blocks}


def render_claim_note(user_id: str) -> dict:
    """What the thread says when someone takes the failure on."""
    who = _user(user_id)
    return {"text": f"{who} is looking into it", "blocks": [section(f":eyes: {who} is looking into it")]}


def with_claim(message: dict, user_id: str) -> dict:
    """A message about a failure (as Slack sent it with the click) showing who took it on: the
    "I'm on it" button gone, a line naming them in its place."""
    blocks = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "actions":
            kept = [e for e in block.get("elements") or [] if not (isinstance(e, dict) and e.get("action_id") == CLAIM_ACTION)]
            if not kept:
                continue
            block = {**block, "elements": kept}
        if block.get("block_id") == CLAIMED_BLOCK:
            continue  # a claim shown before (another click's copy): shown once
        blocks.append(block)
    claimed = {**context(f":eyes: {_user(user_id)} is looking into it"), "block_id": CLAIMED_BLOCK}
    return {"text": str(message.get("text") or "A failed run"), "blocks": [*blocks[:MAX_KEPT_BLOCKS], claimed]}


def _user(user_id: str) -> str:
    return f"<@{user_id}>" if SLACK_USER_ID.fullmatch(user_id) else "Someone"


def _credit(author: Author | None, mention: bool) -> str:
    """ "<@U…>'s commit" for a failure's author known in Slack, else "Ana Example's commit"; "" without one."""
    if author is None:
        return ""
    if mention and author.slack_user:
        return f"<@{author.slack_user}>'s commit"
    if author.name:
        return f"{esc(author.name, NAME_CHARS)}'s commit"
    return ""


def _buttons(event: RunEvent) -> list[Block]:
    run_url = event.run_url
    if not is_web_url(run_url):
        return []
    buttons = []
    if len(run_url) <= MAX_BUTTON_URL:
        buttons.append(button("Open in Buddy", action_id=OPEN_ACTION, url=run_url))
    buttons += operation_buttons(run_status(event.execution), run_url)
    if event.finished and event.status == FAILED and len(run_url) <= MAX_BUTTON_VALUE:
        buttons.append(button("I'm on it", action_id=CLAIM_ACTION, value=run_url))
    return buttons


def _flaky_line(action: FlakyAction) -> str:
    name = esc(action.name or f"Action {action.action_id}", NAME_CHARS)
    return f":repeat: *{name}* · {action.note}"


def _fields(event: RunEvent, now: datetime, credit: str) -> list[str]:
    execution = event.execution
    revision = execution.to_revision
    shown_revision = ""
    if revision is not None and revision.short:
        shown_revision = link(revision.html_url, f"`{esc(revision.short, SHORT_CHARS)}`")
        commit_title = (revision.message or "").strip().splitlines()[:1]
        if commit_title:
            shown_revision += f" {esc(commit_title[0], COMMIT_TITLE_CHARS)}"
    if credit:
        shown_revision = f"{credit} {shown_revision}".rstrip()
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
