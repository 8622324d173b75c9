"""What Slack gets for a request no listener takes: 200, always.

Slack turns an app's event subscriptions off when 5 % of its deliveries fail within an hour, so an
event type the bot does not answer (Bolt's default is 404 "unhandled request") must not count as a
failure. ``app_rate_limited`` (Slack dropped deliveries for a minute) is an operator's concern, and
logged as a warning; a slash command the bot does not know tells the person which one it does know.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.response import BoltResponse

from bot.render.notice import render_notice

log = logging.getLogger(__name__)

EVENTS_PER_HOUR = 30_000  # per workspace; Slack's Events API limit behind app_rate_limited


def answer_unhandled(body: dict[str, Any]) -> BoltResponse:
    kind = body.get("type")
    if kind == "app_rate_limited":
        log.warning(
            "Slack dropped this app's event deliveries in workspace %s for the minute from %s: more than %s "
            "events an hour. Mentions and messages of that minute get no answer; if it recurs, subscribe "
            "the Slack app to fewer events",
            _short(body.get("team_id")),
            _minute(body.get("minute_rate_limited")),
            f"{EVENTS_PER_HOUR:,}",
        )
        return BoltResponse(status=200, body="")
    if kind == "event_callback":
        event = body.get("event")
        log.debug("no listener for %s events; acknowledged", _short(event.get("type") if isinstance(event, dict) else None))
        return BoltResponse(status=200, body="")
    if command := body.get("command"):
        log.info("no listener for the slash command %s; the person is told which one is the bot's", _short(command))
        text = (
            f"{_short(command)} is not a command I answer: mine is /buddy (`/buddy help` shows what it does). "
            "Whoever runs this Slack app can remove the other one from its slash commands."
        )
        return BoltResponse(status=200, body={"response_type": "ephemeral", **render_notice(text)})
    log.info("no listener for this %s request; acknowledged", _short(kind))
    return BoltResponse(status=200, body="")


def _minute(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**11:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{_short(value)} (not a time Slack documents)"


def _short(value: Any) -> str:
    """Slack's own values, but a log line is no place for a long one."""
    return str(value)[:60]
