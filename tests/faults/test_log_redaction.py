"""The log formatter's safety net: configured secrets, token-shaped strings and Slack response URLs
never reach the log, wherever in a record they hide (message, arguments, exception)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from urllib.parse import quote, quote_plus, urlencode

import pytest

from bot import secrets_seen
from bot.config import ConfigError, Settings, load_settings
from bot.log_redaction import REDACTED, RedactingFormatter, RequestBodyFilter, secret_values

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


# -- every encoding, every place a response_url hides, Bolt's body, JSON lines ---------------------

VALUE = 'Pa$$ w0rd/"quoted"&más+=\\end'  # every character that some encoding changes
ENCODINGS = {
    "plain": VALUE,
    "percent-encoded": quote(VALUE, safe=""),
    "percent-encoded path": quote(VALUE),
    "form-encoded": quote_plus(VALUE),
    "JSON-escaped": json.dumps(VALUE)[1:-1],
    "JSON-escaped, unicode kept": json.dumps(VALUE, ensure_ascii=False)[1:-1],
    "JSON-escaped, slashes escaped": json.dumps(VALUE)[1:-1].replace("/", "\\/"),
    "JSON in JSON": json.dumps(json.dumps(VALUE)[1:-1])[1:-1],
    "a dict's repr": repr({"v": VALUE}),
    "base64": base64.b64encode(VALUE.encode()).decode(),
}


# A registry searches for a few secrets one by one and for many through an index: both ways are tested.
SEARCHES = ["a few secrets", "many secrets"]


def registry_with(search: str, **kwargs: int) -> secrets_seen.SecretRegistry:
    registry = secrets_seen.SecretRegistry(**kwargs)
    if search == "many secrets":
        registry.pin(f"unrelated-secret-{n:03d}" for n in range(secrets_seen.FEW_FORMS))
    return registry


@pytest.fixture(autouse=True, params=SEARCHES)
def search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test starts with a process that knows no secret but those it sets up (and, for the
    index, unrelated ones)."""
    monkeypatch.setattr(secrets_seen, "SEEN", registry_with(request.param))
    return request.param


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("known", ["configured", "seen at run time"])
def test_a_secret_is_blanked_in_every_encoding(encoding: str, known: str, search: str):
    formatter = RedactingFormatter(FORMAT, secrets=[VALUE] if known == "configured" else [])
    if known == "seen at run time":
        secrets_seen.SEEN.remember([VALUE])
    assert (secrets_seen.SEEN._few is None) == (search == "many secrets")  # the way meant is the way taken
    text = formatted(formatter, "before %s after", ENCODINGS[encoding])
    assert text.startswith("DEBUG slack_sdk: before ") and text.endswith(" after")
    assert REDACTED in text
    for form in ENCODINGS.values():
        assert form not in text
    assert "w0rd" not in text and "quoted" not in text


def test_lines_and_pieces_of_a_long_multi_line_secret_are_blanked():
    key = "-----BEGIN KEY-----\n" + "\n".join(f"line{n:03d}" + "Zq8" * 20 for n in range(40)) + "\n-----END KEY-----"
    one_line = "x9" * 1000  # longer than a piece
    secrets_seen.SEEN.remember([key, one_line])
    formatter = RedactingFormatter(FORMAT)
    printed_line_by_line = "\n".join(formatted(formatter, "%s", line) for line in key.splitlines())
    assert "Zq8Zq8" not in printed_line_by_line
    assert "Zq8Zq8" not in formatted(formatter, "body %s", json.dumps({"key": key}))
    assert "x9x9" not in formatted(formatter, "%s", one_line)


def test_every_response_url_is_blanked_wherever_it_points():
    formatter = RedactingFormatter(FORMAT)
    urls = ["http://127.0.0.1:8123/response/r1", "https://hooks.slack.com/commands/T1/22/aBcD", "https://proxy.example/x?a=1"]
    for url in urls:
        form_body = urlencode({"token": "t", "response_url": url, "text": "hi"})
        payload = json.dumps({"response_url": url, "type": "block_actions"})
        bodies = [
            form_body,
            payload,
            payload.replace("/", "\\/"),  # as Slack writes JSON
            json.dumps(payload),  # JSON in JSON
            urlencode({"payload": payload.replace("/", "\\/")}),  # an interaction: form-encoded JSON
            repr({"response_url": url}),
        ]
        for body in bodies:
            text = formatted(formatter, "body: %s", body)
            assert REDACTED in text, body
            for form in (url, quote(url, safe=""), quote_plus(url), url.replace("/", "\\/"), quote_plus(url.replace("/", "\\/"))):
                assert form not in text, text
    assert "text=hi" in formatted(formatter, "%s", urlencode({"response_url": urls[0], "text": "hi"}))  # only the URL goes


def test_credential_fields_in_a_logged_body_are_blanked_and_the_rest_kept():
    formatter = RedactingFormatter(FORMAT)
    fields = {"token": "verif-Tok-123", "access_token": "acc-Tok-456", "client_secret": "cli-Sec-789", "password": "pw-0ab"}
    body = {**fields, "text": "deploy please", "user_id": "U123"}
    for logged in (urlencode(body), json.dumps(body), repr(body), urlencode({"payload": json.dumps(body)}), json.dumps(json.dumps(body))):
        text = formatted(formatter, "body: %s", logged)
        assert not any(value in text for value in fields.values()), text
        assert "U123" in text and "deploy" in text
    assert formatted(formatter, "Invalid token: check BUDDY_TOKEN") == "DEBUG slack_sdk: Invalid token: check BUDDY_TOKEN"


def test_slacks_webhook_urls_are_blanked_in_any_encoding_and_the_webhook_client_logs_no_url():
    formatter = RedactingFormatter(FORMAT)
    hook = "https://hooks.slack.com/services/T1/B2/sEcReT"
    for form in (hook, quote(hook, safe=""), hook.replace("/", "\\/"), quote(hook.replace("/", "\\/"), safe="")):
        assert "sEcReT" not in formatted(formatter, "posting to %s", form)
    record = logging.LogRecord("slack_sdk.webhook.async_client", logging.DEBUG, __file__, 1,
                               "Sending a request - url: http://127.0.0.1:9/response/r7, body: {}", (), None)
    assert formatter.format(record) == f"DEBUG slack_sdk.webhook.async_client: Sending a request - url: {REDACTED}, body: {{}}"


def test_bolts_invalid_signature_line_keeps_the_line_and_drops_the_body():
    body = urlencode({"token": "legacy-verification-token", "response_url": "http://127.0.0.1:1/response/r9", "text": "deploy"})
    record = logging.LogRecord("slack_bolt.RequestVerification", logging.INFO, __file__, 1,
                               f"Invalid request signature detected (signature: v0=abc, timestamp: 1, body: {body})", None, None)
    assert RequestBodyFilter().filter(record)
    text = RedactingFormatter(FORMAT).format(record)
    assert text.startswith("INFO slack_bolt.RequestVerification: Invalid request signature detected")
    assert "legacy-verification-token" not in text and "response" not in text.split(":", 1)[1] and "deploy" not in text
    other = logging.LogRecord("bot", logging.INFO, __file__, 1, "Invalid request signature detected %s", ("x",), None)
    assert RequestBodyFilter().filter(other) and other.getMessage() == "Invalid request signature detected x"


def test_json_lines_are_one_object_per_record_blanked_before_and_after_encoding():
    formatter = RedactingFormatter(FORMAT, secrets=[SECRET], json_lines=True)
    secrets_seen.SEEN.remember([VALUE])
    line = formatted(formatter, "sent %s and %s\nsecond line", f"Bearer {SECRET}", VALUE, exc=RuntimeError(f"refused {VALUE}"))
    assert "\n" not in line
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message", "exception"}
    assert entry["level"] == "DEBUG" and entry["logger"] == "slack_sdk"
    assert entry["message"] == f"sent Bearer {REDACTED} and {REDACTED}\nsecond line"
    assert "RuntimeError: refused [redacted]" in entry["exception"]
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    for form in [SECRET, *ENCODINGS.values()]:
        assert form not in line
    # A secret whose JSON form only the encoding of the line itself makes is blanked too, and the line stays JSON.
    secrets_seen.SEEN.remember(["nabcdefgh12"])
    line = formatted(formatter, "%s", "\nabcdefgh12")
    assert "nabcdefgh12" not in line and isinstance(json.loads(line), dict)


def test_the_seen_secrets_are_a_bounded_lru_and_the_pinned_ones_stay(search: str):
    registry = registry_with(search, capacity=4)
    registry.pin(["pinned-credential-1"])
    for n in range(4):
        registry.remember([f"run-secret-{n:04d}"])
    registry.remember(["run-secret-0000"])  # met again: the most recently used now
    registry.remember(["run-secret-0004"])
    registry.remember(["run-secret-0005"])
    assert len(registry) == 4
    text = registry.scrub("pinned-credential-1 " + " ".join(f"run-secret-{n:04d}" for n in range(6)), "*")
    assert text == "* * run-secret-0001 run-secret-0002 * * *"
    registry.remember(["short", "", "1"])
    assert len(registry) == 4 and registry.scrub("short 1", "*") == "short 1"


def test_one_run_takes_at_most_a_quarter_of_the_registry(search: str):
    registry = registry_with(search, capacity=40)
    registry.remember(["kept-secret-value"])
    registry.remember([f"flood-value-{n:05d}" for n in range(1000)])
    assert len(registry) == 11 and registry.scrub("kept-secret-value", "*") == "*"


def test_a_secret_cut_off_at_the_end_of_a_text_is_blanked_from_where_it_begins(search: str):
    registry = registry_with(search)
    registry.remember(["0123456789abcdef"])
    assert registry.scrub("log: 0123456789ab", "*", open_end=True) == "log: *"
    assert registry.scrub("log: 0123456", "*", open_end=True) == "log: 0123456"  # fewer than 8 characters say nothing
    assert registry.scrub("log: 0123456789ab", "*") == "log: 0123456789ab"


def test_log_format_is_text_or_json_and_anything_else_is_one_line_naming_it():
    assert load_settings(_env_file=None, log_format="JSON").log_format == "json"
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, log_format="xml")
    assert str(refused.value) == "LOG_FORMAT: 'xml' is not a log format: use text or json"


def test_the_database_password_is_a_secret_on_its_own():
    settings = Settings(_env_file=None, database_url="postgresql://bot:p%40ss-w0rd-long@db:5432/bot")
    assert {"postgresql://bot:p%40ss-w0rd-long@db:5432/bot", "p@ss-w0rd-long", "p%40ss-w0rd-long"} <= set(secret_values(settings))
