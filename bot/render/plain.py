"""The summary as plain text for the terminal (the CLI): aligned "Label: value" lines.

Nothing is mrkdwn-escaped here, but control characters are removed: an escape code in a name
from Buddy could otherwise rewrite the reader's terminal. Why it failed comes right after the rows,
its log lines with secret values masked, as in every other rendering of a log.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.render.facts import Facts, gather
from bot.render.mrkdwn import clean, clip, more_line
from bot.render.scrub import learn_run_secrets
from bot.render.timing import utc_text
from bot.render.why import why_plain_lines
from bot.report import RunReport

VALUE_CHARS = 500
ERROR_CHARS = 2000


def render_plain(report: RunReport, *, secret_key_regex: re.Pattern[str], now: datetime | None = None) -> str:
    learn_run_secrets(report, secret_key_regex)
    facts = gather(report, secret_key_regex=secret_key_regex, now=now)
    rows = [(label, _one_line(value or "")) for label, value in _rows(facts)]
    rows = [(label, value) for label, value in rows if value]
    width = max(len(label) for label, _ in rows) + 1
    lines = [f"{label + ':':<{width}} {value}" for label, value in rows]
    why = why_plain_lines(facts.why)
    if why:
        lines += ["", *why]
    for title, variables, count in (
        ("Passed variables", facts.passed, facts.passed_count),
        ("Outputted variables", facts.outputted, facts.outputted_count),
    ):
        if count:
            lines += ["", f"{title}:"]
            lines += [f"  {_one_line(key)} = {_one_line(value)}" for key, value in variables]
            if count > len(variables):
                lines.append(f"  {more_line(count - len(variables))}")
    error = clip(clean(facts.error or "")[: 2 * ERROR_CHARS].strip(), ERROR_CHARS)
    if error:
        lines += ["", "Error:", *(f"  {line}" for line in error.splitlines())]
    notes = [_one_line(note) for note in facts.notes]
    if any(notes):
        lines += ["", "Notes:", *(f"  {note}" for note in notes if note)]
    return "\n".join(lines) + "\n"


def _rows(facts: Facts) -> list[tuple[str, str | None]]:
    style = facts.status
    revision = " ".join(part for part in (facts.revision, facts.commit_title) if part)
    return [
        ("Status", f"{style.char} {style.label}" + (f" ({style.code})" if style.label != style.code else "")),
        ("Action", " · ".join(part for part in (facts.action_name, facts.action_type) if part)),
        ("Pipeline", facts.pipeline_name),
        ("Branch", facts.branch),
        ("Revision", revision),
        ("Triggered by", facts.triggered_by),
        ("Progress", f"{facts.progress}%" if facts.progress is not None else None),
        ("Started", utc_text(facts.started) if facts.started else None),
        ("Finished", utc_text(facts.finished) if facts.finished else None),
        ("Duration", facts.duration),
        ("Approved by", facts.approver),
        ("Approved at", utc_text(facts.approved_at) if facts.approved_at else None),
        ("Terminated by", facts.terminated_by),
        ("Terminated at", utc_text(facts.terminated_at) if facts.terminated_at else None),
        ("Open", facts.web_url),
    ]


def _one_line(text: str) -> str:
    return clip(clean(text[: 2 * VALUE_CHARS], one_line=True), VALUE_CHARS)
