"""The log formatter's safety net: configured secrets, token-shaped strings and Slack response URLs
never reach the log, wherever in a record they hide (message, arguments, exception)."""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.log_redaction import REDACTED, RedactingFormatter, secret_values

SECRET = "my-buddy-token-0123456789"
FORMAT = "%(levelname)s %(name)s: %(message)s"


def formatted(formatter: logging.Formatter, msg: str, *args: object, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("slack_sdk", logging.DEBUG, __file__, 1, msg, args, None)
    if exc is not None:
        try:
            raise exc
        except BaseException as raised:  # noqa: BLE001 - building exc_info for the record
            record.exc_info = (type(raised), raised, raised.__traceback__)
    return formatter.format(record)


def test_configured_secrets_are_blanked_in_message_arguments_and_exceptions():
    formatter = RedactingFormatter(FORMAT, secrets=[SECRET])
    assert formatted(formatter, f"Authorization: Bearer {SECRET}") == f"DEBUG slack_sdk: Authorization: Bearer {REDACTED}"
    assert SECRET not in formatted(formatter, "headers=%s", {"Authorization": f"Bearer {SECRET}"})
    with_traceback = formatted(formatter, "failed", exc=RuntimeError(f"token {SECRET} refused"))
    assert "RuntimeError: token [redacted] refused" in with_traceback and SECRET not in with_traceback


def test_token_shapes_and_response_urls_are_blanked_without_being_configured():
    formatter = RedactingFormatter(FORMAT)
    text = formatted(
        formatter, "bot %s app %s url %s",
        "xoxb-1234-5678-abcdEFGH", "xapp-1-A012-3456-abcdef",
        "https://hooks.slack.com/commands/T123/1234567890/fakeResponseUrlToken",
    )
    assert text == f"DEBUG slack_sdk: bot {REDACTED} app {REDACTED} url {REDACTED}"


def test_short_values_are_not_treated_as_secrets():
    formatter = RedactingFormatter(FORMAT, secrets=["abc", ""])
    assert formatted(formatter, "abc def") == "DEBUG slack_sdk: abc def"


def test_secret_values_are_every_setting_kept_out_of_repr():
    settings = Settings(
        _env_file=None, buddy_token="buddy-token-1", buddy_host_tokens="eu.buddy.works=eu-token-22",
        slack_bot_token="xoxb-3", slack_signing_secret="signing-4", slack_app_token="xapp-5",
        buddy_api_url="https://buddy.example.com/api",
    )
    values = set(secret_values(settings))
    assert {"buddy-token-1", "eu-token-22", "xoxb-3", "signing-4", "xapp-5"} <= values
    assert "https://buddy.example.com/api" not in values
