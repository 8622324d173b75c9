"""A workspace's own Buddy token, checked with Buddy before it is kept (``GET /user`` on each host
chosen, or the default host), within a bound so the Settings form is answered in Slack's 3 s."""

from __future__ import annotations

import asyncio

from bot import secrets_seen
from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.tenancy.settings import Invalid


async def check_token(client: BuddyClient, hosts: tuple[str, ...], token: str, *, within_s: float) -> None:
    """Invalid("token", why) when Buddy refuses the token on one of ``hosts``, or does not answer in time."""
    secrets_seen.SEEN.remember([token])  # kept out of every log line and message from here on
    try:
        async with asyncio.timeout(within_s):
            for host in hosts:
                await client.get_json(host, "/user", token=token)
    except TimeoutError:
        raise Invalid("token", f"Buddy did not answer within {within_s:g} s, so nothing was saved. Try again.") from None
    except errors.Unauthorized:
        raise Invalid(
            "token", f"Buddy ({host}) refused this token: it is mistyped, expired or revoked, or from another installation."
        ) from None
    except errors.Forbidden:
        raise Invalid(
            "token", "Buddy would not say whose token this is: give it the USER_INFO scope, and paste it again."
        ) from None
    except errors.BuddyError as exc:
        raise Invalid(
            "token", f"Buddy ({host}) could not check the token ({type(exc).__name__}). Try again in a minute."
        ) from None
