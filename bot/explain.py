"""Turns a Buddy error into one plain sentence or two: what happened and what to do."""

from __future__ import annotations

from datetime import timezone

from bot.buddy import errors
from bot.buddy.refs import CLOUD_API_BASES, BuddyRef

SCOPE_HINT = "EXECUTION_INFO (called PIPELINE_READ on newer installations)"


def explain(exc: errors.BuddyError, ref: BuddyRef | None = None) -> str:
    said = f" Buddy said: “{exc.message}”." if exc.message and not exc.message.startswith("HTTP ") else ""
    where = ref.host if ref else exc.host
    if isinstance(exc, errors.Unauthorized):
        return (
            f"The Buddy token is not valid on {where}: it is wrong, expired or revoked, or it belongs to another "
            f"Buddy installation (a token works on one region or server only). Create a new token, or give this "
            f"host its own with BUDDY_HOST_TOKENS={where}=<token>.{said}"
        )
    if isinstance(exc, errors.Forbidden):
        if "disabled" in exc.message.lower():
            workspace = f" “{ref.workspace}”" if ref else ""
            return (
                f"The Buddy API is turned off in workspace{workspace}. A workspace admin can turn it on under "
                f"Workspace Settings → Developer API.{said}"
            )
        return (
            f"The Buddy token may not read this run: it needs the scope {SCOPE_HINT}, and it must not be "
            f"restricted to other workspaces or IP addresses.{said}"
        )
    if isinstance(exc, errors.NotFound):
        other = _other_region_hint(ref)
        return f"Buddy has no such run: {exc.message or 'check the ids in the link'}.{other}"
    if isinstance(exc, errors.RateLimited):
        return f"Buddy's API rate limit is reached for now. {_retry_hint(exc)}"
    if isinstance(exc, errors.Unavailable):
        return f"Buddy is not answering right now ({exc.message}). Try again in a minute."
    if isinstance(exc, errors.TooLarge):
        return (
            f"Buddy sent more than I can read ({exc.message}, the most BUDDY_MAX_RESPONSE_MB allows). "
            f"If it keeps happening, tell the bot's operator."
        )
    if isinstance(exc, errors.BadResponse):
        return (
            f"Buddy sent an answer the bot could not read ({exc.message}). Try again; if it keeps happening, "
            f"check that BUDDY_API_URL points at Buddy's API."
        )
    return f"Buddy refused the request ({exc.status or 'error'}).{said}"


def _other_region_hint(ref: BuddyRef | None) -> str:
    if ref is None or ref.host not in CLOUD_API_BASES:
        return " Check the ids, and that the link is from the Buddy installation this bot reads."
    others = ", ".join(h for h in CLOUD_API_BASES if h != ref.host)
    return (
        f" Check the ids; a run on another region ({others}) must be linked with that region's address, "
        f"and the token must belong to that region."
    )


def _retry_hint(exc: errors.RateLimited) -> str:
    seconds = exc.retry_in_seconds
    if seconds is None:
        return "Try again in a minute."
    at = exc.reset_at.astimezone(timezone.utc).strftime("%H:%M UTC") if exc.reset_at else ""
    when = f"in {seconds} s" if seconds < 120 else f"in {round(seconds / 60)} min"
    return f"Try again {when}" + (f" (after {at})." if at else ".")
