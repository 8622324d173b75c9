"""Build and send requests to the bot the way Slack does: same encodings, same envelope, signed."""

from __future__ import annotations

import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack import BOT_USER_ID, TEAM_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
APP_ID = "A123"
VERIFICATION_TOKEN = "legacy-verification-token"  # deprecated field Slack still sends
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T123/1234567890/fakeResponseUrlToken"

_ids = itertools.count(1)
# Our own opener without proxy handlers: a proxy from the environment must not see 127.0.0.1 calls.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def signed_headers(secret: str, body: str | bytes, timestamp: int | str | None = None) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body`` (timestamp: now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def slash_command_body(
    text: str,
    *,
    command: str = "/buddy",
    channel_id: str = "C123",
    user_id: str = "U123",
    response_url: str = DEFAULT_RESPONSE_URL,
    team_id: str = TEAM_ID,
    channel_name: str = "general",
    user_name: str = "alice",
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> str:
    """A slash-command POST body, form-encoded with Slack's fields in Slack's order (on Enterprise
    Grid with the org's id; ``is_enterprise_install`` for an app installed org-wide)."""
    n = next(_ids)
    grid = {"enterprise_id": enterprise_id, "enterprise_name": f"Org {enterprise_id}"} if enterprise_id else {}
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": "fake-workspace",
            **grid,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "true" if is_enterprise_install else "false",
            "response_url": response_url,
            "trigger_id": f"{n}.{n}.{secrets.token_hex(16)}",
        }
    )


def event_callback_body(
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> str:
    """An Events API ``event_callback`` envelope around ``event``, as JSON text (event_id: fresh); on
    Enterprise Grid with the org's id, ``is_enterprise_install`` for an app installed org-wide."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        **({"enterprise_id": enterprise_id} if enterprise_id else {}),
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": enterprise_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": None if is_enterprise_install else team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(16)}",
    }
    return json.dumps(envelope)


def app_rate_limited_body(minute_rate_limited: int, *, team_id: str = TEAM_ID, api_app_id: str = APP_ID) -> str:
    """What Slack sends when it drops an app's event deliveries for a minute (over 30,000 an hour in a
    workspace): an envelope of its own, not an ``event_callback``."""
    return json.dumps({"token": VERIFICATION_TOKEN, "type": "app_rate_limited", "team_id": team_id,
                       "minute_rate_limited": minute_rate_limited, "api_app_id": api_app_id})


def block_actions_body(payload: dict[str, Any]) -> str:
    """An interactivity POST body: ``payload=<urlencoded JSON>``."""
    return urlencode({"payload": json.dumps(payload)})


def block_actions_payload(
    message: dict[str, Any],
    action_id: str,
    *,
    channel: str,
    value: str | None = None,
    user_id: str = "U123",
    response_url: str = DEFAULT_RESPONSE_URL,
    is_ephemeral: bool = False,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """What Slack sends when a button in ``message`` (as posted: ``ts``, ``text``, ``blocks``) is
    clicked; ``value`` defaults to the button's own, and may be set to anything, as a forger would."""
    button = next((element for block in message.get("blocks", []) if block.get("type") == "actions"
                   for element in block.get("elements", []) if element.get("action_id") == action_id), {})
    n = next(_ids)
    action = {"action_id": action_id, "block_id": "buddy_run_actions", "type": "button",
              "text": button.get("text", {"type": "plain_text", "text": action_id}), "action_ts": f"{int(time.time())}.{n:06d}"}
    if value is not None or "value" in button:
        action["value"] = button.get("value") if value is None else value
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": is_ephemeral}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": f"{n}.{n}.{secrets.token_hex(16)}",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        **({} if is_ephemeral else {"message": {"type": "message", "user": BOT_USER_ID, **message}}),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission_payload(
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    user_id: str = "U123",
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """What Slack sends when a person submits ``view`` (as opened: ``id``, ``callback_id``,
    ``private_metadata``, ``blocks``) with ``values`` ({block_id: {action_id: {"type": …, "value": …}}}).
    Send it with ``block_actions_body``: interactivity payloads share one form field."""
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": f"{next(_ids)}.{secrets.token_hex(16)}",
        "view": {**view, "type": "modal", "state": {"values": values}, "hash": view.get("hash", "h1")},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def post_signed(
    url: str,
    body: str | bytes,
    secret: str,
    *,
    content_type: str,
    extra_headers: dict[str, str] | None = None,
    timestamp: int | str | None = None,
) -> tuple[int, str]:
    """POST ``body`` signed with ``secret``; return (HTTP status, response text), errors included."""
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": content_type, **signed_headers(secret, data, timestamp), **(extra_headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
