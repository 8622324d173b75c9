"""Errors raised by the Buddy client, in one place so callers know what to catch.

    BuddyError                      anything that went wrong talking to Buddy
    ├── NotFound                    404: wrong ids, another region, or a web id not in the pages scanned
    ├── Rejected                    400/422: Buddy understood a write and refused what it asks (a branch it
    │                               does not know, variables it does not take)
    ├── Unauthorized                401: the token is invalid or expired, or not valid on this host
    ├── Forbidden                   403: missing scope, token restricted, or the API disabled in the workspace
    ├── RateLimited                 429 that lasts longer than we are willing to wait
    ├── Unavailable                 5xx, timeouts and broken connections, after retries
    └── BadResponse                 a body that is not the JSON we expect (HTML error pages, garbage)
        └── TooLarge                a body over BUDDY_MAX_RESPONSE_MB once decompressed (never retried)

Each error carries Buddy's own message (from ``{"errors": [{"message": ...}]}``) where there is one,
and the API host it came from, so the person can be told what happened and what to do.
"""

from __future__ import annotations

from datetime import datetime, timezone


class BuddyError(Exception):
    """Base class: ``message`` is Buddy's text (or ours), ``host`` the API host that answered."""

    def __init__(self, message: str = "", *, host: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.status = status


class NotFound(BuddyError):
    """The resource does not exist on this host (or the web id was not in the pages scanned)."""


class Rejected(BuddyError):
    """400 or 422: the request is well-formed but Buddy will not do what it asks (its message says why)."""


class Unauthorized(BuddyError):
    """401: the token is not accepted by this host."""


class Forbidden(BuddyError):
    """403: the token lacks a scope, is restricted, or the workspace has the API turned off."""


class RateLimited(BuddyError):
    """429 whose reset is further away than the configured maximum wait."""

    def __init__(self, message: str = "", *, host: str = "", reset_at: datetime | None = None) -> None:
        super().__init__(message, host=host, status=429)
        self.reset_at = reset_at

    @property
    def retry_in_seconds(self) -> int | None:
        if self.reset_at is None:
            return None
        return max(0, int((self.reset_at - datetime.now(timezone.utc)).total_seconds()) + 1)


class Unavailable(BuddyError):
    """Buddy did not answer usefully (5xx, timeout, connection reset) after bounded retries."""


class BadResponse(BuddyError):
    """Buddy answered with something that is not the JSON shape we expect."""


class TooLarge(BadResponse):
    """The body grew past ``BUDDY_MAX_RESPONSE_MB`` (counted after decompression); reading stopped there."""
