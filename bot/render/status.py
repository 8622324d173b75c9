"""How each Buddy status looks: a Slack emoji, the same as a Unicode character, and a label."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusStyle:
    code: str  # Buddy's status as sent (raw: escape it for mrkdwn)
    emoji: str  # Slack shortcode, for blocks
    char: str  # Unicode, for notification text and the terminal
    label: str


_STYLES = {
    "SUCCESSFUL": (":white_check_mark:", "✅", "Successful"),
    "FAILED": (":x:", "❌", "Failed"),
    "INPROGRESS": (":arrows_counterclockwise:", "🔄", "In progress"),
    "ENQUEUED": (":clock3:", "🕒", "Queued"),
    "INITIAL": (":clock3:", "🕒", "Not started"),
    "TERMINATED": (":no_entry_sign:", "🚫", "Terminated"),
    "TERMINATING": (":no_entry_sign:", "🚫", "Terminating"),
    "SKIPPED": (":fast_forward:", "⏩", "Skipped"),
    "NOT_EXECUTED": (":white_circle:", "⚪", "Not executed"),
    "WAITING_FOR_APPLY": (":raised_hand:", "✋", "Waiting for approval"),
    "WAITING_FOR_VARIABLES": (":pencil:", "📝", "Waiting for variables"),
    "WAITING_FOR_SETTABLE_VARIABLES": (":pencil:", "📝", "Waiting for variables"),
    "WAITING_FOR_VT_SESSION": (":hourglass_flowing_sand:", "⏳", "Waiting for a VT session"),
}


def status_style(status: str | None) -> StatusStyle:
    """The style of `status`; Buddy adds statuses over time, so an unknown one is shown as it came."""
    code = (status or "").strip()
    known = _STYLES.get(code.upper())
    if known is not None:
        return StatusStyle(code.upper(), *known)
    return StatusStyle(code or "UNKNOWN", ":grey_question:", "❔", code or "Unknown status")
