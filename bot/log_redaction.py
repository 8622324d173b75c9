"""Keeps credentials and secret values out of the bot's log, whatever a library prints at DEBUG.

The bot's own log lines never carry a token; this formatter is the safety net for everything else.
In the message, its exception and stack, it blanks:

- every secret the process knows (``bot.secrets_seen``: the bot's credentials, and the secret
  variable values of the runs it rendered), in each form it takes in a log: plain, percent-encoded,
  JSON- or Python-escaped;
- anything shaped like a Slack token, and Slack's response and webhook URLs;
- every ``response_url`` value in a logged body (form-encoded, JSON, a dict), wherever it points
  (each one can post into a conversation for half an hour), and every ``token``, ``…_token``,
  ``…_secret`` and ``password`` field (Slack's verification token, OAuth tokens);
- every URL slack_sdk's webhook client logs (it only ever calls response_urls and incoming webhooks).

Bolt logs a badly signed request's whole body at INFO; ``RequestBodyFilter`` keeps the line and
drops the body. With ``json_lines`` each record is one JSON object on one line, blanked before it is
encoded and once more after, for the escaped forms encoding makes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from types import TracebackType
from urllib.parse import unquote, urlsplit

from bot import secrets_seen
from bot.config import Settings
from bot.secrets_seen import SecretRegistry

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Said instead of a JSON line in which blanking a secret broke the encoding (a secret that begins
# inside an escape sequence, as "nabc…" in "\nabc…").
UNREDACTABLE = "[redacted: this line held a secret that could not be blanked on its own]"

# A slash as it appears in a URL that is logged plain, JSON-escaped or percent-encoded.
_SLASH = r"(?:\\?/|(?:%5[Cc])?%2[Ff])"
# A URL's or a token's characters, up to whatever ends it in text, JSON, a dict's repr or a form body.
_VALUE = r"(?:[^\s\"'<>&,;|\\%]|\\/|%5[Cc]%2[Ff]|%(?!22|2[Cc]|5[Cc]|7[Dd]|26)[0-9A-Fa-f]{2})+"
_SLACK_HOOK = rf"hooks\.slack\.com{_SLASH}(?:commands|actions|services|triggers|workflows){_SLASH}{_VALUE}"
# Each pattern starts with a literal, so the search skips ahead to where one can start.
_SECRET_SHAPES = re.compile(
    "|".join(
        [
            r"xox[a-z]-[A-Za-z0-9-]+",  # bot, user and configuration tokens
            r"xapp-[A-Za-z0-9-]+",  # app-level tokens (Socket Mode)
            rf"https?(?::|%3[Aa]){_SLASH}{_SLASH}{_SLACK_HOOK}",  # response and webhook URLs
            _SLACK_HOOK,
        ]
    )
)
# A credential's field in a logged body: `response_url`, `token` (Slack's verification token),
# `…_token`, `…_secret`, `password`, as a JSON or dict key (quoted any way: JSON in JSON,
# percent-encoded JSON) or as a form field; then its value.
_QUOTE = r"(?:\\*[\"']|(?:%5[Cc])*%22)"
_SPACE = r"(?:\s|\+|%20)*"  # a form body writes a space as + or %20
_KEYED_SECRET = re.compile(
    rf"(response_url|token|secret|password)({_QUOTE}{_SPACE}(?::|%3[Aa]){_SPACE}{_QUOTE}?|=|%3[Dd])"
    rf"(?!\[redacted\]){_VALUE}"
)
_ANY_URL = re.compile(rf"(?:https?|wss?)://{_VALUE}")
_WEBHOOK_LOGGER = "slack_sdk.webhook"
_BAD_SIGNATURE = "Invalid request signature detected"


def secret_values(settings: Settings) -> list[str]:
    """Every setting kept out of ``repr`` (tokens, signing secret, per-host tokens, the database URL
    and its password alone) that is set."""
    values: list[str] = []
    for name, field in type(settings).model_fields.items():
        if field.repr:
            continue
        value = getattr(settings, name)
        values.extend(value.values() if isinstance(value, dict) else [value])
    if settings.database_url:
        password = urlsplit(settings.database_url).password
        values += [password, unquote(password)] if password else []
    return [v for v in values if isinstance(v, str) and v]


class RequestBodyFilter(logging.Filter):
    """Bolt's "Invalid request signature detected" line carries the whole request body (its
    response_url, the verification token, what the person typed): the line stays, the body goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("slack_bolt") and isinstance(record.msg, str) and record.msg.startswith(_BAD_SIGNATURE):
            record.msg = f"{_BAD_SIGNATURE}: the request was refused with 401 (its body is not logged)"
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str = TEXT_FORMAT, *, secrets: Iterable[str] = (), json_lines: bool = False) -> None:
        super().__init__(fmt)
        self._json_lines = json_lines
        self._own = SecretRegistry()
        self._own.pin(secrets)

    def redact(self, text: str, logger: str = "") -> str:
        text = secrets_seen.SEEN.scrub(self._own.scrub(text, REDACTED), REDACTED)
        text = _KEYED_SECRET.sub(_blank_value, _SECRET_SHAPES.sub(REDACTED, text))
        if logger.startswith(_WEBHOOK_LOGGER):
            text = _ANY_URL.sub(REDACTED, text)
        return text

    def format(self, record: logging.LogRecord) -> str:
        if not self._json_lines:
            return self.redact(super().format(record), record.name)
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        entry = {key: self.redact(value, record.name) for key, value in entry.items()}
        line = json.dumps(entry)  # \u escapes: a lone surrogate from Buddy's text still encodes
        redacted = self.redact(line, record.name)
        if redacted != line and not _is_json(redacted):
            entry = {key: entry[key] for key in ("time", "level", "logger")} | {"message": UNREDACTABLE}
            return json.dumps(entry)
        return redacted


def _blank_value(field: re.Match[str]) -> str:
    """The field with its value blanked; unless its name only ends in a key's (``mytoken=``)."""
    before = field.string[max(0, field.start() - 3) : field.start()]
    if before[-1:].isalnum() and before != "%22":  # an `access_token` or a "%22token" counts
        return field.group()
    return field.group(1) + field.group(2) + REDACTED


def log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    """``sys.excepthook``: an exception nobody caught goes to the log (blanked) rather than raw to stderr."""
    logging.getLogger("bot").critical("uncaught %s", kind.__name__, exc_info=(kind, error, traceback))


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
