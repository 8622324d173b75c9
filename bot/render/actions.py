"""What acting on runs looks like: the buttons by a run's state, the line a message gets once someone
acted ("Approved by @ana at …"), the thread's note, each refusal (private, saying what to do), the
Provide variables form, and ``/buddy audit``'s list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.actions import outcome as acting
from bot.actions.audit import DONE, REFUSED, AuditRow
from bot.actions.operations import (
    APPROVE,
    BY_NAME,
    CANCEL,
    ENDED,
    NOT_WAITING,
    PROVIDE_VARIABLES,
    RETRY,
    STILL_GOING,
    SUCCEEDED,
    Operation,
    offered,
)
from bot.actions.outcome import Outcome
from bot.render.blocks import LINK_ACTION, OPEN_ACTION, Block, actions, button, context, plain_text, section
from bot.render.limits import MAX_BLOCKS, MAX_BUTTON_URL, MAX_BUTTON_VALUE
from bot.render.mrkdwn import clip, date_token, esc, is_web_url, link
from bot.render.scrub import scrub
from bot.render.status import status_style
from bot.why.authors import SLACK_USER_ID

if TYPE_CHECKING:  # bot.actions.variables reads bot.render.facts, whose package imports this module
    from bot.actions.variables import WantedVariable

ACTION_IDS = {
    APPROVE.name: "buddy_approve",
    PROVIDE_VARIABLES.name: "buddy_provide_variables",
    RETRY.name: "buddy_retry",
    CANCEL.name: "buddy_cancel",
}
OPERATION_OF = {action_id: BY_NAME[name] for name, action_id in ACTION_IDS.items()}
VARIABLES_VIEW = "buddy_provide_variables"  # the form's callback_id
VALUE_ACTION = "value"  # each input's action_id
SECRET_PREFIX, PLAIN_PREFIX = "s:", "v:"  # each input's block_id: the key, marked secret or not
ACTED_BLOCK = "buddy_acted_"  # + the operation: the line that says who acted, one per operation
NAME_CHARS = 200
SAID_CHARS = 500
AUDIT_SECTION_CHARS = 2900
INPUT_VALUE_CHARS = 3000
LABEL_CHARS = 150
HINT_CHARS = 300
_RESULT_MARKS = {DONE: ":white_check_mark:", REFUSED: ":no_entry_sign:"}


# -- the buttons ---------------------------------------------------------------------------------


def operation_buttons(status: str, run_url: str, *, waiting_url: str | None = None) -> list[Block]:
    """The buttons a run in ``status`` offers, each carrying the run's link (as Refresh's); Approve and
    Provide variables carry the waiting action's link when it is known (``waiting_url``): Buddy is then
    told which action when several wait, and a refusal can say who approved it."""
    buttons = []
    for operation in offered(status):
        value = waiting_url if waiting_url and operation in (APPROVE, PROVIDE_VARIABLES) else run_url
        if is_web_url(value) and len(value) <= MAX_BUTTON_VALUE:
            buttons.append(_button(operation, value))
    return buttons


def _button(operation: Operation, value: str) -> Block:
    element = button(operation.label, action_id=ACTION_IDS[operation.name], value=value)
    if operation is CANCEL:
        element["style"] = "danger"
        element["confirm"] = {
            "title": plain_text("Cancel this run?"),
            "text": plain_text("Buddy stops the run where it is, as you (your Buddy account decides whether you may)."),
            "confirm": plain_text("Cancel the run"),
            "deny": plain_text("Keep it running"),
            "style": "danger",
        }
    elif operation is APPROVE:
        element["style"] = "primary"
    return element


def with_operations(blocks: Sequence[Block], status: str, value: str) -> list[Block]:
    """``blocks`` with their operation buttons swapped for those a run in ``status`` offers; a row
    left empty goes, and a row without operation buttons gets them."""
    ours = set(ACTION_IDS.values())
    fresh = operation_buttons(status, value)
    kept: list[Block] = []
    placed = False
    for block in blocks:
        if block.get("type") == "actions" and block.get("block_id") != "buddy_link":
            elements = [e for e in block.get("elements") or [] if isinstance(e, dict) and e.get("action_id") not in ours]
            if not placed:
                elements, placed = elements + fresh, True
            if not elements:
                continue
            block = {**block, "elements": elements[:25]}
        kept.append(block)
    return kept


# -- after an action -----------------------------------------------------------------------------


def acted_line(outcome: Outcome) -> Block:
    """ "✅ Approved by @ana at <time>" (with the bot's token: says so), as a context line."""
    when = datetime.fromtimestamp(outcome.at or 0, tz=timezone.utc)
    by = _user(outcome.request.person.user)
    token = " with the bot's Buddy token" if outcome.request.with_bot_token else ""
    line = f":white_check_mark: {outcome.operation.done} by {by}{token} at {date_token(when)}"
    return {**context(line), "block_id": ACTED_BLOCK + outcome.operation.name}


def shown_after(message: dict, outcome: Outcome, *, redrawn: dict | None = None) -> dict:
    """The clicked message once the action is done: ``redrawn`` (a summary drawn again from Buddy)
    or the message as it was with its buttons brought up to date, keeping the lines of earlier
    actions, with this action's line above the buttons."""
    line = acted_line(outcome)
    earlier = [
        block
        for block in message.get("blocks") or []
        if isinstance(block, dict)
        and str(block.get("block_id", "")).startswith(ACTED_BLOCK)
        and block.get("block_id") != line["block_id"]
    ]
    if redrawn is not None:
        blocks = list(redrawn.get("blocks") or [])
        text = str(redrawn.get("text") or message.get("text") or "")
    else:
        blocks = [
            block
            for block in message.get("blocks") or []
            if isinstance(block, dict) and not str(block.get("block_id", "")).startswith(ACTED_BLOCK)
        ]
        run_url = outcome.request.run_ref.web_url
        blocks = with_operations(blocks, outcome.status, run_url) if outcome.status else blocks
        text = str(message.get("text") or "A Buddy run")
    lines = [*earlier, line]
    buttons = blocks[-1:] if blocks and blocks[-1].get("type") == "actions" else []
    kept = blocks[: len(blocks) - len(buttons)][: MAX_BLOCKS - len(lines) - len(buttons)]
    return {"text": text, "blocks": [*kept, *lines, *buttons]}


def thread_note(outcome: Outcome) -> dict:
    """The thread's note: who did what, as whom."""
    who = _user(outcome.request.person.user)
    if outcome.request.with_bot_token:
        how = " with the bot's Buddy token"
    elif outcome.acted_as:
        how = f" as *{esc(outcome.acted_as, NAME_CHARS)}* in Buddy"
    else:
        how = ""
    sentence = f"{who} {outcome.operation.note}{how}."
    return {"text": sentence, "blocks": [section(f":white_check_mark: {sentence}")]}


# -- refusals ------------------------------------------------------------------------------------


def render_refusal(outcome: Outcome) -> dict:
    """Why it was not done, and what to do: for the clicker's eyes only. Where linking (again) is
    the way, with the Link Buddy account button; where Buddy may have done it after all, Open in Buddy."""
    text = refusal_text(outcome)
    blocks: list[Block] = [section(f":warning: {text}")]
    host = outcome.request.ref.host
    if outcome.reason in (acting.NOT_LINKED, acting.EXPIRED, acting.NO_SCOPE):
        link_button = button("Link Buddy account", action_id=LINK_ACTION, value=host[:200])
        blocks.append(actions([link_button], block_id="buddy_link"))
    run_url = outcome.request.run_ref.web_url
    if outcome.reason == acting.UNKNOWN and is_web_url(run_url) and len(run_url) <= MAX_BUTTON_URL:
        blocks.append(actions([button("Open in Buddy", action_id=OPEN_ACTION, url=run_url)], block_id="buddy_notice_actions"))
    return {"text": text, "blocks": blocks}


def refusal_text(outcome: Outcome) -> str:
    """The refusal as mrkdwn: what came from Buddy or the person is escaped, mentions and dates are Slack's."""
    operation, reason = outcome.operation, outcome.reason
    host = esc(outcome.request.ref.host, NAME_CHARS)
    status = esc(status_style(outcome.status).label, 60) if outcome.status else ""
    if reason == acting.NOT_LINKED:
        return (
            f"To {operation.verb} runs from Slack, link your Buddy account on {host} first: I then act as you, "
            "and Buddy decides what you may do, as it does in Buddy."
        )
    if reason == acting.EXPIRED:
        return (
            f"Your Buddy link on {host} has expired or was revoked, so I did not {operation.verb} this run. "
            f"Link your account again, then click *{operation.label}* once more."
        )
    if reason == acting.NO_SCOPE:
        return (
            f"Your Buddy token may not {operation.verb} runs: it lacks the scope EXECUTION_RUN. Create a token "
            f"with EXECUTION_RUN (or sign in again) and link it.{_said(outcome)}"
        )
    if reason == acting.BUSY and outcome.holder is not None:
        who = _user(outcome.holder.user or "")
        if outcome.holder.done:
            return f"{who} just {operation.note.replace('this run', 'it')}."
        return f"Already {operation.doing} by {who}."
    if reason == NOT_WAITING:
        waits_for = "approval" if operation is APPROVE else "variables"
        approved = ""
        if outcome.approver:
            when = _date(outcome.approved_at)
            approved = f": approved by {esc(outcome.approver, NAME_CHARS)}" + (f" at {when}" if when else "")
        return f"This run is no longer waiting for {waits_for}{approved}. It is {status.lower()} now."
    if reason == ENDED:
        return f"This run has ended ({status}): there is nothing to {operation.verb} any more."
    if reason == STILL_GOING:
        return f"This run is still going ({status}): only a failed or terminated run can be retried."
    if reason == SUCCEEDED:
        return f"This run ended {status.lower()}: only a failed or terminated run can be retried."
    if reason == acting.FORBIDDEN:
        who = f" (as {esc(outcome.acted_as, NAME_CHARS)})" if outcome.acted_as else ""
        return (
            f"Buddy did not let you {operation.verb} this run{who}: you may not do that in Buddy. Ask someone "
            f"who may, or a Buddy admin for the permission.{_said(outcome)}"
        )
    if reason == acting.STORE:
        return (
            "I can't act on runs right now: my state store is unavailable, so I could not make sure it is "
            "done once. Try again in a minute."
        )
    if reason == acting.REJECTED:
        return f"Buddy refused to {operation.verb} this run.{_said(outcome)}"
    if reason == acting.UNKNOWN:
        return (
            f"Buddy did not answer in time, so I can't tell whether the run was {operation.done.lower()}. "
            f"Look at it in Buddy before you try again.{_said(outcome)}"
        )
    if reason == acting.UNREADABLE:
        return f"I could not read this run from Buddy, so I did not {operation.verb} it. Try again in a minute."
    fallback = f"I could not {operation.verb} this run. Try again in a minute."
    return esc(outcome.said, SAID_CHARS * 2, one_line=False, scrub=scrub) or fallback


def _said(outcome: Outcome) -> str:
    said = outcome.said.strip()
    if not said or said.startswith("HTTP "):
        return ""
    return f" Buddy said: “{esc(said, SAID_CHARS, scrub=scrub)}”."


# -- the Provide variables form ------------------------------------------------------------------


def loading_view(run_url: str) -> dict:
    """What the form shows at once (the click's trigger is valid 3 s), while Buddy is asked."""
    return _view([section(f":hourglass_flowing_sand: Reading the variables of {link(run_url, 'the run')} from Buddy…")])


def notice_view(mrkdwn: str) -> dict:
    """The form, when it cannot be filled in: why (``mrkdwn``, escaped; the same note also comes as a message)."""
    return _view([section(f":warning: {mrkdwn}")])


def variables_view(
    variables: Sequence[WantedVariable], *, run_url: str, title: str, metadata: dict[str, Any], left_out: int = 0
) -> dict:
    """The form: one input per variable, with its current value; secrets left blank."""
    intro = f"{link(run_url, esc(title, NAME_CHARS) or 'The run')} waits for its variables."
    if not variables:
        return _view([section(f"{intro} Buddy lists none I can show here: provide them in {link(run_url, 'Buddy')}.")])
    blocks: list[Block] = [section(intro + " Left blank, a secret keeps the value Buddy has.")]
    for variable in variables:
        element: Block = {"type": "plain_text_input", "action_id": VALUE_ACTION, "max_length": INPUT_VALUE_CHARS}
        if variable.value and not variable.secret:
            element["initial_value"] = variable.value[:INPUT_VALUE_CHARS]
        hint = "Secret: not shown." if variable.secret else ""
        if variable.description:
            hint = f"{hint} {variable.description}".strip()
        block: Block = {
            "type": "input",
            "block_id": (SECRET_PREFIX if variable.secret else PLAIN_PREFIX) + variable.key,
            "label": plain_text(clip(variable.key, LABEL_CHARS)),
            "element": element,
            "optional": True,
        }
        if hint:
            block["hint"] = plain_text(clip(hint, HINT_CHARS))
        blocks.append(block)
    if left_out:
        blocks.append(context(f"{left_out} more variable(s) do not fit here: provide them in {link(run_url, 'Buddy')}."))
    view = _view(blocks, submit="Continue the run")
    view["private_metadata"] = json.dumps(metadata)[:3000]
    return view


def submitted_variables(values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The form's values, as Slack sends them back: blank secrets left out (Buddy keeps theirs)."""
    chosen: list[tuple[str, str]] = []
    for block_id, fields in values.items():
        if not isinstance(fields, dict) or not isinstance(block_id, str):
            continue
        value = (fields.get(VALUE_ACTION) or {}).get("value")
        text = value if isinstance(value, str) else ""
        if block_id.startswith(SECRET_PREFIX) and text:
            chosen.append((block_id.removeprefix(SECRET_PREFIX), text))
        elif block_id.startswith(PLAIN_PREFIX):
            chosen.append((block_id.removeprefix(PLAIN_PREFIX), text))
    return tuple(chosen)


def _view(blocks: list[Block], *, submit: str | None = None) -> dict:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": VARIABLES_VIEW,
        "title": plain_text("Provide variables"),
        "close": plain_text("Close"),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain_text(submit)
    return view


# -- /buddy audit --------------------------------------------------------------------------------


def render_audit(rows: Sequence[AuditRow], *, of: str | None = None) -> dict:
    """The last actions, one line each: when, who in Slack and in Buddy, what, on which run, how it went."""
    where = f" on {esc(of, NAME_CHARS)}" if of else ""
    if not rows:
        text = f"No actions from Slack{where} yet that you may see."
        return {"text": text, "blocks": [section(text)]}
    lines = [_audit_line(row) for row in rows]
    heading = f"*The last {len(rows)} action(s) from Slack{where}*"
    blocks: list[Block] = [section(heading)]
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > AUDIT_SECTION_CHARS:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return {"text": f"The last {len(rows)} action(s) from Slack", "blocks": blocks}


def _audit_line(row: AuditRow) -> str:
    when = date_token(datetime.fromtimestamp(row.at, tz=timezone.utc))
    operation = BY_NAME.get(row.action)
    what = operation.label if operation is not None else esc(row.action, 40)
    if row.buddy_user == acting.BOT_TOKEN:
        as_whom = "with the bot's token"
    else:
        as_whom = f"as {esc(row.buddy_user, 100)}" if row.buddy_user else ""
    run = link(row.run_url, f"{esc(row.project, 100)} · pipeline {row.pipeline_id} run")
    mark = _RESULT_MARKS.get(row.result, ":warning:")
    detail = f" ({esc(row.detail, 150)})" if row.detail and row.result != DONE else ""
    return f"• {when} · {_user(row.slack_user)} {as_whom} · *{what}* · {run} · {mark} {esc(row.result, 20)}{detail}"


# -- helpers -------------------------------------------------------------------------------------


def _user(user_id: str) -> str:
    """A mention of a Slack user id; anything else could become another mention, so it is not shown."""
    return f"<@{user_id}>" if SLACK_USER_ID.fullmatch(user_id or "") else "someone"


def _date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return ""
    return date_token(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
