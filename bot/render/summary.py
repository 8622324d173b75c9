"""The Block Kit answer for one run: what happened, who approved it, with which variables.

Budgets below keep every block under its own limit and the whole message far under Slack's
undocumented total (`limits.MAX_TOTAL_BLOCK_TEXT`), whatever Buddy sends.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.actions.operations import WAITS, run_status
from bot.buddy.refs import RefKind
from bot.render.actions import operation_buttons
from bot.render.blocks import CLAIM_ACTION, Block, actions, button, context, fields_section, header, section
from bot.render.facts import Facts, gather
from bot.render.limits import MAX_BUTTON_URL, MAX_BUTTON_VALUE, MAX_HEADER_TEXT
from bot.render.morelog import MAX_END_MARK, MORE_LOG_ACTION, more_log_value
from bot.render.mrkdwn import clean, clip, code_block, date_token, esc, fit_lines, is_web_url, link
from bot.render.overview import render_overview
from bot.render.scrub import learn_run_secrets, scrub, scrubbed
from bot.render.why import why_blocks
from bot.report import RunReport

NAME_CHARS = 200
SHORT_CHARS = 60  # action type, revision, status code
COMMIT_TITLE_CHARS = 150
VARIABLE_KEY_CHARS = 100
VARIABLE_VALUE_CHARS = 200
VARIABLE_LINES = 25
VARIABLES_CHARS = 1400
ERROR_CHARS = 900  # code_block may double it
NOTE_CHARS = 300
NOTES_CHARS = 800
# Slack user ids; anything else must not go inside <@…>, where it could become another mention.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_WAITING = {
    "WAITING_FOR_APPLY": "Waiting for approval — approve it in {buddy}",
    "WAITING_FOR_VARIABLES": "Waiting for variables — provide them in {buddy}",
    "WAITING_FOR_SETTABLE_VARIABLES": "Waiting for variables — provide them in {buddy}",
}


def render_summary(
    report: RunReport,
    *,
    secret_key_regex: re.Pattern[str],
    requested_by: str | None = None,
    interactive: bool = False,
    now: datetime | None = None,
) -> dict:
    """`{"text": …, "blocks": […]}` for chat.postMessage; `now` dates a run still going.

    Secret variables are masked; their values, and any met before, are masked wherever else they
    appear (the error, why it failed, a note, a commit title). A failed run's summary offers
    "I'm on it" when ``interactive``.
    """
    learn_run_secrets(report, secret_key_regex)
    facts = gather(report, secret_key_regex=secret_key_regex, now=now)
    # Why it failed comes first: it is what a person opens a failure's message for.
    blocks = [header(header_text(facts)), *_waiting(facts), *why_blocks(facts.why)]
    # A whole execution: every action first, then the details of the one worth showing.
    if report.ref.kind in (RefKind.EXECUTION, RefKind.PIPELINE) and len(report.actions) > 1:
        blocks += render_overview(report, now=now)
    blocks += [fields_section(fields) for fields in (_run_fields(facts), _time_fields(facts)) if fields]
    error = esc(facts.error, ERROR_CHARS, one_line=False, scrub=scrub)
    if error.strip():
        blocks.append(section(f"*Error*\n{code_block(error)}"))
    blocks += _variables("Passed variables", facts.passed, facts.passed_count)
    blocks += _variables("Outputted variables", facts.outputted, facts.outputted_count)
    notes = [f":information_source: {note}" for note in (esc(note, NOTE_CHARS, scrub=scrub) for note in facts.notes) if note]
    if notes:
        blocks.append(context(fit_lines(notes, NOTES_CHARS)))
    blocks.append(context(_footer(facts, requested_by)))
    buttons = _buttons(report, facts, interactive)
    if buttons:
        blocks.append(actions(buttons, block_id="buddy_run_actions"))
    return scrubbed({"text": fallback_text(facts), "blocks": blocks})


def header_text(facts: Facts) -> str:
    """Plain text (a header is never parsed for mentions), so it is cleaned but not escaped."""
    style = facts.status
    text = f"{style.emoji} {style.label[:SHORT_CHARS]} · {facts.title[: 2 * MAX_HEADER_TEXT]}"
    return clip(clean(text, one_line=True), MAX_HEADER_TEXT)


def fallback_text(facts: Facts) -> str:
    """The notification line: "✅ SUCCESSFUL · Pass arguments · company-website/2"."""
    status = esc(facts.status.code, SHORT_CHARS)
    where = f"{esc(facts.project, NAME_CHARS)}/{facts.pipeline_id}"
    return f"{facts.status.char} {status} · {esc(facts.title, NAME_CHARS)} · {where}"


def _waiting(facts: Facts) -> list[Block]:
    sentence = _WAITING.get(facts.status.code)
    if sentence is None:
        return []
    return [section(f"{facts.status.emoji} " + sentence.format(buddy=link(facts.web_url, "Buddy")))]


def _field(label: str, value: str | None) -> list[str]:
    return [f"*{label}*\n{value}"] if value else []


def _run_fields(facts: Facts) -> list[str]:
    action = esc(facts.action_name, NAME_CHARS)
    if facts.action_type:
        action = f"{action or '(unnamed)'} · `{esc(facts.action_type, SHORT_CHARS)}`"
    revision = link(facts.revision_url, esc(facts.revision, SHORT_CHARS)) if facts.revision else ""
    if revision and facts.commit_title:
        revision += f" {esc(facts.commit_title, COMMIT_TITLE_CHARS)}"
    return [
        *_field("Action", action),
        *_field("Pipeline", link(facts.pipeline_url, esc(facts.pipeline_name, NAME_CHARS))),
        *_field("Branch", esc(facts.branch, NAME_CHARS)),
        *_field("Revision", revision),
        *_field("Triggered by", esc(facts.triggered_by, NAME_CHARS)),
        *_field("Progress", f"{facts.progress}%" if facts.progress is not None else None),
    ]


def _time_fields(facts: Facts) -> list[str]:
    return [
        *_field("Started", date_token(facts.started) if facts.started else None),
        *_field("Finished", date_token(facts.finished) if facts.finished else None),
        *_field("Duration", facts.duration),
        *_field("Approved by", esc(facts.approver, NAME_CHARS)),
        *_field("Approved at", date_token(facts.approved_at) if facts.approved_at else None),
        *_field("Terminated by", esc(facts.terminated_by, NAME_CHARS)),
        *_field("Terminated at", date_token(facts.terminated_at) if facts.terminated_at else None),
    ]


def _variables(title: str, variables: list[tuple[str, str]], count: int) -> list[Block]:
    if not count:
        return []
    lines = [f"{esc(key, VARIABLE_KEY_CHARS)} = {esc(value, VARIABLE_VALUE_CHARS)}" for key, value in variables[:VARIABLE_LINES]]
    return [section(f"*{title}*\n" + fit_lines(lines, VARIABLES_CHARS, total=count))]


def _footer(facts: Facts, requested_by: str | None) -> str:
    where = f"{esc(facts.workspace, NAME_CHARS)} / {esc(facts.project, NAME_CHARS)}"
    if requested_by is not None and _SLACK_USER_ID.fullmatch(requested_by):
        return f"Requested by <@{requested_by}> · {where}"
    return where


def _buttons(report: RunReport, facts: Facts, interactive: bool) -> list[Block]:
    buttons = []
    # Slack still sends an interaction for a URL button: the listener acks "buddy_open".
    if is_web_url(facts.web_url) and len(facts.web_url) <= MAX_BUTTON_URL:
        buttons.append(button("Open in Buddy", action_id="buddy_open", url=facts.web_url))
    if not interactive:
        return buttons
    # The run itself, not "the latest run of the pipeline": Refresh must not switch to another run.
    run_url = report.run_ref.web_url
    run_link_fits = is_web_url(run_url) and len(run_url) <= MAX_BUTTON_VALUE
    action_status = report.action.status if report.action is not None else None
    waiting = report.action_ref if (action_status or "").upper() in WAITS else None
    buttons += operation_buttons(
        run_status(report.execution, action_status), run_url, waiting_url=waiting.web_url if waiting is not None else None
    )
    if run_link_fits and facts.is_failure:
        buttons.append(button("I'm on it", action_id=CLAIM_ACTION, value=run_url))
    if run_link_fits:
        buttons.append(button("Refresh", action_id="buddy_refresh", value=run_url))
    log_ref = report.action_ref  # only an action has a log
    earlier_lines = (report.log_total_lines or 0) > len(report.log_tail)
    if log_ref is not None and earlier_lines and len(log_ref.web_url) <= MAX_BUTTON_VALUE - MAX_END_MARK:
        buttons.append(button("More log", action_id=MORE_LOG_ACTION, value=more_log_value(log_ref.web_url)))
    return buttons
