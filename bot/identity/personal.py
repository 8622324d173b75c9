"""Linking with a personal access token: checked with Buddy (``GET /user``, scope USER_INFO) before
it is kept. No Slack code; the token modal is ``bot/slack/listeners/views/link_token.py``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bot import secrets_seen
from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.identity.accounts import PERSONAL, LinkedAccount, LinkedAccounts, SlackPerson

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 512  # Buddy's are 36 to 64 characters
# What approving, retrying, cancelling and running need (PIPELINE_RUN: its name on newer installations).
ACTING_SCOPES = frozenset({"EXECUTION_RUN", "PIPELINE_RUN"})


class TokenRefused(Exception):
    """The token is not kept; the message says why and what to do (shown in the modal)."""


def lacks_acting_scope(scopes: tuple[str, ...]) -> bool:
    """Whether Buddy said which scopes a token has, and none of them lets it act."""
    return bool(scopes) and not ACTING_SCOPES & {scope.upper() for scope in scopes}


class PersonalTokens:
    def __init__(self, buddy: BuddyClient, accounts: LinkedAccounts, *, clock: Callable[[], float] = time.time) -> None:
        self.buddy = buddy
        self.accounts = accounts
        self.clock = clock

    async def link(self, person: SlackPerson, host: str, token: str, *, within_s: float) -> LinkedAccount:
        """Checks ``token`` with Buddy (all of it within ``within_s``) and keeps it for ``person`` on
        ``host``. TokenRefused for a token Buddy refuses, that lacks USER_INFO, or that could not be
        checked in time."""
        token = token.strip()
        if not token or len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
            raise TokenRefused("That does not look like a Buddy personal access token: paste the token alone, in one piece.")
        secrets_seen.SEEN.remember([token])  # kept out of every log line and message from here on
        user_call = asyncio.ensure_future(self.buddy.get_json(host, "/user", token=token))
        token_call = asyncio.ensure_future(self.buddy.get_json(host, "/user/token", token=token))
        deadline = asyncio.get_running_loop().time() + within_s
        try:
            async with asyncio.timeout_at(deadline):
                user = await user_call
            scopes = await _scopes(token_call, deadline)
        except TimeoutError:
            raise TokenRefused(
                f"Buddy ({host}) did not answer within {within_s:g} s, so the token is not linked yet. Try again."
            ) from None
        except errors.Unauthorized:
            raise TokenRefused(
                f"Buddy ({host}) refused this token: it is mistyped, expired or revoked, or belongs to another Buddy "
                "installation. Create a new one and paste it here."
            ) from None
        except errors.Forbidden:
            raise TokenRefused(
                "Buddy would not say whose token this is: give it the USER_INFO scope (in Buddy, edit the token's scopes) "
                "and paste it again."
            ) from None
        except errors.BuddyError as exc:
            raise TokenRefused(f"Buddy ({host}) could not check the token ({_short(exc)}). Try again in a minute.") from None
        finally:
            for call in (user_call, token_call):
                call.cancel()
                if call.done() and not call.cancelled():
                    call.exception()  # retrieved, so that asyncio does not report it as lost
        if not isinstance(user, dict) or user.get("id") is None:
            raise TokenRefused(f"Buddy ({host}) answered, but not with a user. Try again in a minute.")
        account = LinkedAccount(
            person,
            host.lower(),
            user["id"] if isinstance(user["id"], int) else None,
            str(user.get("name") or user.get("email") or f"user {user['id']}"),
            PERSONAL,
            token,
            scopes=scopes,
            linked_at=self.clock(),
        )
        await self.accounts.put(account)
        log.info("linked Slack user %s to Buddy user %s on %s (personal token)", person.user, account.buddy_user_id, host)
        return account


async def _scopes(token_call: asyncio.Future[Any], deadline: float) -> tuple[str, ...]:
    """The token's scopes from ``GET /user/token``; none (unknown) when Buddy does not say in time."""
    try:
        async with asyncio.timeout_at(deadline):
            info = await token_call
    except (TimeoutError, errors.BuddyError):
        return ()
    scopes = info.get("scopes") if isinstance(info, dict) else None
    return tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else ()


def _short(exc: errors.BuddyError) -> str:
    return f"HTTP {exc.status}" if exc.status else type(exc).__name__
