"""Counts Slack requests by kind and outcome, and times their acknowledgement.

Not a Bolt middleware, although it sits where one would: in Bolt's async app, a global middleware's
``next()`` only marks the chain as continued and returns at once, so a middleware never sees the
response nor the moment it is made. That moment is when ``AsyncApp.async_dispatch`` returns: with
``process_before_response=False`` the listener runs in a task and dispatch returns as soon as the
listener calls ``ack()`` (Bolt looks every 10 ms), and the aiohttp handler (HTTP mode) or the Socket
Mode handler sends that response straight away. Both go through ``async_dispatch``, so ``register``
wraps it on the app: one measure for both modes, which also counts the requests Bolt itself refuses
(a bad signature is a 401 here). The clock starts once the body is read (aiohttp's ``to_bolt_request``
reads it before dispatch; reading is bounded by HTTP_BODY_TIMEOUT_S).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.ops.metrics import Metrics

# Payload types are label values only from this set, whatever an unsigned request claims to be.
_PAYLOAD_TYPES = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "interactive_message",
        "url_verification",
        "app_rate_limited",
    }
)
_EVENT_TYPES = frozenset(
    {"app_mention", "message", "link_shared", "app_home_opened", "app_uninstalled", "tokens_revoked", "member_joined_channel"}
)


def request_kind(body: Mapping[str, Any]) -> str:
    """``command``, ``event:<type>``, ``block_actions``, ``view_submission``, … or ``other``."""
    if body.get("command"):
        return "command"
    if body.get("ssl_check"):
        return "ssl_check"
    payload_type = body.get("type")
    if payload_type == "event_callback":
        event = body.get("event")
        event_type = event.get("type") if isinstance(event, Mapping) else None
        return f"event:{event_type if event_type in _EVENT_TYPES else 'other'}"
    return payload_type if payload_type in _PAYLOAD_TYPES else "other"


def register(app: AsyncApp, metrics: Metrics) -> None:
    """Measure every request ``app`` dispatches from now on (call once per app)."""
    dispatch = app.async_dispatch

    async def measured_dispatch(req: AsyncBoltRequest) -> BoltResponse:
        started = time.perf_counter()
        kind = request_kind(req.body if isinstance(req.body, Mapping) else {})
        try:
            response = await dispatch(req)
        except Exception:
            # Bolt turns listener and middleware errors into a 500 itself; this is for what escapes it.
            metrics.slack_request(kind, 500, time.perf_counter() - started)
            raise
        metrics.slack_request(kind, response.status, time.perf_counter() - started)
        return response

    # An instance attribute: the aiohttp adapter and the Socket Mode handler both call app.async_dispatch.
    setattr(app, "async_dispatch", measured_dispatch)
