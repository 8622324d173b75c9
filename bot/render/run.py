"""``/buddy run``'s own messages: the confirmation asked before a run of a production pipeline."""

from __future__ import annotations

import re

from bot.actions.run import PlannedRun
from bot.render.blocks import Block, actions, button, context, section
from bot.render.mrkdwn import esc
from bot.render.scrub import scrub

RUN_CONFIRM_ACTION = "buddy_run_confirm"  # value: bot.actions.run.confirmation_value
RUN_CANCEL_ACTION = "buddy_run_cancel"
MASK = "••••••"
NAME_LIMIT = 200
VALUE_LIMIT = 100
SHOWN_VARIABLES = 20
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")


def render_run_confirmation(planned: PlannedRun, value: str, *, secret_key_regex: re.Pattern[str]) -> dict:
    """Asks, for the asker only: "Run <pipeline> on <branch> at <revision>? [Run] [Cancel]"."""
    name = esc(planned.pipeline_name, NAME_LIMIT)
    branch = f" on `{esc(planned.branch, NAME_LIMIT)}`" if planned.branch else ""
    revision = esc(planned.revision, 80)
    question = f"Run *{name}*{branch} at `{revision}`?"
    lines = [f":warning: {question}"]
    request = planned.request
    if request.variables:
        shown = [f"`{esc(key, 100)}` = {_shown_value(key, value, secret_key_regex)}" for key, value in request.variables]
        more = len(shown) - SHOWN_VARIABLES
        lines.append("Variables: " + ", ".join(shown[:SHOWN_VARIABLES]) + (f" and {more} more" if more > 0 else ""))
    if request.comment:
        lines.append(f"Comment: {esc(request.comment, 500, scrub=scrub)}")
    run = button("Run", action_id=RUN_CONFIRM_ACTION, value=value)
    run["style"] = "danger"
    cancel = button("Cancel", action_id=RUN_CANCEL_ACTION, value="cancel")
    blocks: list[Block] = [
        section("\n".join(lines)),
        context("Its name marks it as one to confirm (RUN_CONFIRM_PATTERNS). Only you see this."),
        actions([run, cancel], block_id="buddy_run_confirmation"),
    ]
    text = f"Run {esc(planned.pipeline_name, NAME_LIMIT)}{' on ' + esc(planned.branch, NAME_LIMIT) if planned.branch else ''} at {revision}?"
    return {"text": text, "blocks": blocks}


def render_not_yours(asker: str) -> dict:
    """To someone clicking Run on a confirmation another person asked for (a forged or shared value)."""
    who = f"<@{asker}>" if _SLACK_USER.fullmatch(asker) else "the person who asked"
    text = f"Only {who}, who asked for this run, can confirm it. To run it yourself, type `/buddy run …`."
    return {"text": text, "blocks": [section(f":warning: {text}")]}


def _shown_value(key: str, value: str, secret_key_regex: re.Pattern[str]) -> str:
    if secret_key_regex.search(key.upper()):
        return MASK
    return f"`{esc(value, VALUE_LIMIT)}`" if value else "(empty)"
