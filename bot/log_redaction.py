"""Keeps credentials out of the bot's log, whatever a library prints at DEBUG.

The bot's own log lines never carry a token; this formatter is the safety net for everything else:
it blanks the configured secrets, anything shaped like a Slack token, and Slack's response URLs
(each one can post into a conversation for half an hour), in the message, its exception and stack.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from bot.config import Settings

REDACTED = "[redacted]"
# Shorter values are not blanked: they would match ordinary words (and no real token is that short).
MIN_SECRET_CHARS = 8
_SECRET_SHAPES = (
    r"\bxox[a-z]-[A-Za-z0-9-]+",  # bot, user and configuration tokens
    r"\bxapp-[A-Za-z0-9-]+",  # app-level tokens (Socket Mode)
    r"https://hooks\.slack\.com/(?:commands|actions|services|triggers)/[^\s'\"<>]+",
)


def secret_values(settings: Settings) -> list[str]:
    """Every setting kept out of ``repr`` (tokens, signing secret, per-host tokens) that is set."""
    values: list[str] = []
    for name, field in type(settings).model_fields.items():
        if field.repr:
            continue
        value = getattr(settings, name)
        values.extend(value.values() if isinstance(value, dict) else [value])
    return [v for v in values if isinstance(v, str) and v]


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, *, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        exact = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, exact), *_SECRET_SHAPES]))

    def format(self, record: logging.LogRecord) -> str:
        return self._pattern.sub(REDACTED, super().format(record))
