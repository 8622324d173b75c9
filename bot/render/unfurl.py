"""The compact preview of a Buddy link (chat.unfurl): status, name, branch, when, who approved, and
for a failed run the line of the log that says why.

An unfurl is seen by everyone in the channel, so it shows no variables and of the log only that one
error line, and no secret value in what it does show.
"""

from __future__ import annotations

import re

from bot.render.blocks import section
from bot.render.facts import gather
from bot.render.mrkdwn import date_token, esc, link
from bot.render.scrub import learn_run_secrets, scrubbed
from bot.render.summary import NAME_CHARS, SHORT_CHARS
from bot.render.why import why_unfurl_line
from bot.report import RunReport


def render_unfurl(report: RunReport, *, secret_key_regex: re.Pattern[str]) -> dict:
    """`{"blocks": [one section]}`, the value for this link in chat.unfurl's `unfurls` map."""
    learn_run_secrets(report, secret_key_regex)
    facts = gather(report, secret_key_regex=secret_key_regex)
    style = facts.status
    title = link(facts.web_url, esc(facts.title, NAME_CHARS) or "(unnamed)")
    details = [esc(facts.pipeline_name, NAME_CHARS)] if facts.action_name else []
    branch = esc(facts.branch, NAME_CHARS)
    if branch:
        details.append(f"`{branch}`")
    when = facts.finished or facts.started
    if when is not None:
        details.append(date_token(when))
    if facts.approver:
        details.append(f"approved by {esc(facts.approver, NAME_CHARS)}")
    text = f"{style.emoji} *{title}* · {esc(style.label, SHORT_CHARS)}"
    if details:
        text += "\n" + " · ".join(details)
    error = why_unfurl_line(facts.why)
    if error:
        text += "\n" + error
    return scrubbed({"blocks": [section(text)]})
