"""Dates and durations as people read them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.buddy.models import RunState


def as_utc(when: datetime | None) -> datetime | None:
    """`when` in UTC; a date without a zone is taken as UTC (Buddy sends UTC).

    None when the date cannot be moved to UTC (year 1 with a positive offset falls before year 1).
    """
    if when is None:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:
        return None


def utc_text(when: datetime) -> str:
    """`2025-05-28 09:51 UTC`: the fallback shown where Slack cannot localise a date."""
    return f"{when:%Y-%m-%d %H:%M} UTC"


def human_duration(span: timedelta) -> str:
    """`47 ms`, `12 s`, `1 min 5 s`, `2 h 3 min`, `3 d 4 h`; a negative span counts as zero."""
    millis = max(span, timedelta(0)) // timedelta(milliseconds=1)
    if millis < 1000:
        return f"{millis} ms"
    seconds = millis // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _two_units(minutes, "min", seconds, "s")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _two_units(hours, "h", minutes, "min")
    days, hours = divmod(hours, 24)
    return _two_units(days, "d", hours, "h")


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big:,} {big_unit} {small} {small_unit}" if small else f"{big:,} {big_unit}"


def run_duration(run: RunState, now: datetime) -> str | None:
    """How long a run took, or has been running ("… so far"); None when it never started.

    Computed here rather than with `RunState.duration_seconds`, which fails when Buddy mixes a
    date with a zone and one without.
    """
    start, finish = as_utc(run.start_date), as_utc(run.finish_date)
    if start is None:
        return None
    if finish is not None:
        return human_duration(finish - start)
    if run.is_finished:
        return None
    return f"{human_duration(now - start)} so far"
