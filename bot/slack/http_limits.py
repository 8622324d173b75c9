"""What the HTTP server reads, bounded: how long a request may take to arrive, and how deep the JSON
in a Slack request may nest.

aiohttp's server has no read timeouts of its own. The header timeout is its keep-alive timer, which
closes a connection that has no complete request (headers included) since it opened or since its
last response; the body timeout is a middleware, so it covers every route, Buddy's webhooks too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler, Middleware

# Slack's deepest payloads (a clicked message whose attachments hold rich-text blocks) nest about 15
# levels; 64 leaves room for that to grow, and stays far below the ~1,000 levels at which Python's
# json module (Bolt's parser) and the bot's own walks over a payload would run out of stack.
MAX_JSON_DEPTH = 64
LINGER_S = 10.0  # aiohttp's default: how long the unread rest of a body is drained before closing

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(_STRUCTURE)))
_STRING = re.compile(rb'"[^"]*"')
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")


def server_options(*, header_timeout_s: float, body_timeout_s: float) -> dict[str, Any]:
    """aiohttp's RequestHandler arguments (``web.Application(handler_args=…)``).

    An idle kept-alive connection counts as one whose next request's headers have not come: it is
    closed after the header timeout too. A handler that leaves a body unread (a 404, a 413) has the
    rest drained for at most the body timeout before the connection closes."""
    return {
        "keepalive_timeout": header_timeout_s,
        "lingering_time": min(LINGER_S, body_timeout_s),
        "logger": _ServerLog(logging.getLogger("aiohttp.server")),
    }


class _ServerLog(logging.LoggerAdapter):
    """aiohttp's server log, except that a malformed request (a broken chunk, a bad header, a line too
    long), which aiohttp has answered 400 already, is the sender's doing: one line, not a traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            reason = (exc_info.message or type(exc_info).__name__).strip().splitlines()[0].rstrip(":")
            self.info(f"{msg}: malformed HTTP, refused with %s (%s)", *args, exc_info.code, reason)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def body_deadline(timeout_s: float) -> Middleware:
    """A middleware: a body still unfinished ``timeout_s`` after its headers makes whoever reads it
    (``request.read()``, ``request.content``) raise 408, and the connection ends with that answer."""

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = request.content
        if body.is_eof():
            return await handler(request)
        timer = asyncio.get_running_loop().call_later(timeout_s, _expire, request, body, timeout_s)
        try:
            return await handler(request)
        finally:
            timer.cancel()

    return deadline


def _expire(request: web.Request, body: StreamReader, timeout_s: float) -> None:
    if body.is_eof():
        return
    expired = web.HTTPRequestTimeout(text=f"The request body did not arrive within {timeout_s:g} s.\n")
    expired.force_close()
    # Nothing more is read from this connection (what follows would be the rest of this body), and
    # the body counts as ended, so aiohttp closes at once after the 408 instead of draining it.
    request.protocol.close()
    body.set_exception(expired)
    body.feed_eof()


def slack_body_nests_too_deep(body: bytes) -> bool:
    """Whether JSON that Bolt may parse from this request nests deeper than MAX_JSON_DEPTH: the body
    itself, or the ``payload`` field of a form (``slack_bolt.request.internals.parse_body``)."""
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        return True
    if body.startswith(b"{") or b"payload" not in body:
        return False
    form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return any(nests_deeper_than(value.encode(), MAX_JSON_DEPTH) for name, value in form if name == "payload")


def nests_deeper_than(text: bytes, limit: int) -> bool:
    """Whether JSON ``text`` has arrays and objects nested more than ``limit`` deep, without parsing it.

    Byte operations only, no recursion: the escapes go first (so that every remaining quote delimits
    a string), then everything but quotes and brackets, then the strings. Each pass over the brackets
    left removes the innermost pairs, one level; after ``limit`` passes, nothing is left if the text
    was no deeper. Text that is not JSON may count as too deep: it would be refused anyway.
    """
    unescaped = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRING.sub(b"", unescaped.translate(None, _NOT_STRUCTURE)).translate(_ONE_BRACKET, b'"')
    too_deep = b"[" * (limit + 1)
    for _ in range(limit):
        if not brackets:
            return False
        if too_deep in brackets:
            return True
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)
