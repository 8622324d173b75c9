"""Buddy's OAuth 2 sign-in (authorization code with PKCE) for BUDDY_DEFAULT_HOST, and the refresh of
the tokens it gives. No Slack code: the Slack side (``/buddy login``'s button, the callback route)
is in ``bot/slack``.

The flow:

1. ``begin`` writes a *state* for the Slack person: random, single use, good for 10 minutes, with a
   PKCE verifier (sealed like the tokens). The person gets a link to the bot's own
   ``<PUBLIC_URL>/buddy/oauth/start?state=…``.
2. ``authorize_url`` (the start route): the browser gets a cookie holding that state, and is sent to
   ``<api base>/oauth2/authorize?type=web_server&…&code_challenge=…``.
3. ``finish`` (the callback route, ``?code=…&state=…``): the state is taken (once, whichever replica
   answers), checked unexpired and started in this browser by the same Slack person (the cookie:
   OAuth's state is bound to the browser as well as to the person, RFC 6749 §10.12), the code
   exchanged at ``POST <api base>/oauth2/token`` with the verifier, and the Buddy user read with
   ``GET /user``. PKCE is sent whether or not Buddy checks it; nothing depends on it being checked.

``refresh`` trades a refresh token for a new access token (``grant_type=refresh_token``); Identity
calls it shortly before the access token's ``expires_in`` runs out, and after Buddy refuses one.

Every call goes to the API base of the configured host only (``BuddyClient.api_base``), within
BUDDY_TIMEOUT_S, and reads at most MAX_BODY bytes of the answer. No token, code or verifier is logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import delete, select, update

from bot import secrets_seen
from bot.buddy import errors
from bot.buddy.body import ACCEPTED_ENCODINGS, OverLimit, Undecodable, read_capped
from bot.buddy.client import USER_AGENT, BuddyClient
from bot.config import Settings
from bot.identity.accounts import OAUTH, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.vault import Unreadable
from bot.ops.metrics import process_metrics
from bot.state.tables import oauth_states

log = logging.getLogger(__name__)

STATE_TTL_S = 600.0  # a sign-in link is good for 10 minutes
STATE_KEPT_S = 86400.0  # used and expired states are kept a day, to say which they were
START_PATH = "/buddy/oauth/start"
CALLBACK_PATH = "/buddy/oauth/callback"
MAX_BODY = 64 * 1024  # a token answer is a few hundred bytes
MAX_STATE_CHARS = 128  # what the routes accept in a query (ours are 43)
MAX_CODE_CHARS = 1024


class SignInFailed(Exception):
    """The sign-in did not link an account; the message is for the person, in their browser."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # the callback page's HTTP status


class _Refused(SignInFailed):
    """Buddy's token endpoint answered 4xx; ``code`` is the OAuth error code, when it gave one."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, status=400)
        self.code = code


class RefreshRefused(Exception):
    """Buddy refused the refresh token (revoked, expired or unknown): the person links again."""


@dataclass(frozen=True)
class _State:
    person: SlackPerson
    host: str
    verifier: str  # empty once used
    created_at: float


def pkce_challenge(verifier: str) -> str:
    """S256: the unpadded base64url SHA-256 of the verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class BuddyOAuth:
    def __init__(
        self, settings: Settings, buddy: BuddyClient, accounts: LinkedAccounts, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.buddy = buddy
        self.accounts = accounts
        self.clock = clock
        self._metrics = process_metrics()

    @property
    def enabled(self) -> bool:
        s = self.settings
        return bool(s.buddy_oauth_client_id and s.buddy_oauth_client_secret and s.public_url)

    def serves(self, host: str) -> bool:
        """Whether ``host`` links through this OAuth app (an app belongs to one Buddy installation)."""
        return self.enabled and host.lower() == self.settings.buddy_default_host.lower()

    @property
    def redirect_uri(self) -> str:
        return self.settings.public_url + CALLBACK_PATH

    # -- the sign-in ------------------------------------------------------------------------------

    async def begin(self, person: SlackPerson, workspace: str | None = None) -> str:
        """A new sign-in for ``person`` on the default host: the link to send them to. ``workspace``:
        the Slack installation the person asked through, told of the outcome the same way."""
        state = secrets.token_urlsafe(32)
        secrets_seen.SEEN.remember([state])  # the link is a key to the sign-in: kept out of the log
        sealed = self.accounts.vault.seal(secrets.token_urlsafe(48))  # 64 characters: RFC 7636 allows 43-128
        now = self.clock()
        async with self.accounts.state.begin() as db:
            await db.execute(delete(oauth_states).where(oauth_states.c.created_at < now - STATE_KEPT_S))
            await db.execute(
                oauth_states.insert().values(
                    state=state,
                    team=person.team,
                    slack_user=person.user,
                    host=self.settings.buddy_default_host.lower(),
                    code_verifier=sealed,
                    created_at=now,
                    workspace=workspace,
                )
            )
        return f"{self.settings.public_url}{START_PATH}?{urlencode({'state': state})}"

    async def person_of(self, state: str) -> SlackPerson | None:
        """Who began a sign-in (the Slack person it links to)."""
        found = await self._state(state)
        return found.person if found is not None else None

    async def workspace_of(self, state: str) -> str | None:
        """The Slack installation a sign-in was begun through (``begin``'s ``workspace``)."""
        async with self.accounts.state.begin() as db:
            return (await db.execute(select(oauth_states.c.workspace).where(oauth_states.c.state == state))).scalar()

    async def authorize_url(self, state: str) -> str:
        """Buddy's authorize page for a sign-in begun and not yet used (SignInFailed otherwise)."""
        found = await self._usable_state(await self._state(state))
        query = {
            "type": "web_server",
            "client_id": self.settings.buddy_oauth_client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.settings.buddy_oauth_scopes),
            "state": state,
            "code_challenge": pkce_challenge(self._verifier(found)),
            "code_challenge_method": "S256",
        }
        return f"{self.buddy.api_base(found.host)}/oauth2/authorize?{urlencode(query)}"

    async def finish(self, state: str, code: str, *, browser_state: str, error: str = "") -> LinkedAccount:
        """The callback: takes the state (once), exchanges the code, reads the Buddy user, keeps the
        account. ``browser_state``: the state the start route left in this browser's cookie."""
        found = await self._usable_state(await self._state(state))
        started_here = found if browser_state == state else await self._state(browser_state)
        # Taken now, whatever follows: a state seen in a refused callback is spent.
        if not await self._take(state):
            raise SignInFailed(_ALREADY_USED)
        if started_here is None or started_here.person != found.person:
            raise SignInFailed(
                "This sign-in link belongs to someone else's /buddy login, or was not opened in this browser. "
                "Nothing was linked. Type /buddy login in Slack yourself and open the link it gives you here.",
                status=403,
            )
        if error:
            reason = "you declined" if error == "access_denied" else f"Buddy said {error[:100]}"
            raise SignInFailed(f"Nothing was linked: {reason}. Type /buddy login in Slack to try again.")
        if not code:
            raise SignInFailed("Buddy sent no sign-in code back. Type /buddy login in Slack to try again.")
        verifier = self._verifier(found)
        granted = await self._token_call(
            found.host,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri, "code_verifier": verifier},
            failure="Buddy would not exchange the sign-in code",
        )
        access = _text(granted, "access_token")
        secrets_seen.SEEN.remember([access, _text(granted, "refresh_token")])
        if not access:
            raise SignInFailed("Buddy's answer to the sign-in had no access token. Type /buddy login to try again.", status=502)
        user = await self._buddy_user(found.host, access)
        account = LinkedAccount(
            found.person,
            found.host,
            _int(user.get("id")),
            _text(user, "name") or _text(user, "email") or f"user {user.get('id')}",
            OAUTH,
            access,
            _text(granted, "refresh_token") or None,
            self._expiry(granted),
            tuple(self.settings.buddy_oauth_scopes),
            self.clock(),
        )
        await self.accounts.put(account)
        log.info("linked Slack user %s to Buddy user %s on %s (OAuth)", found.person.user, account.buddy_user_id, found.host)
        return account

    async def refresh(self, account: LinkedAccount) -> LinkedAccount:
        """A new access token for ``account`` (kept, and returned). RefreshRefused when Buddy refuses
        the refresh token; a BuddyError when Buddy could not be asked (the account is left as it is)."""
        if not account.refresh_token:
            raise RefreshRefused("no refresh token")
        try:
            granted = await self._token_call(
                account.host, {"grant_type": "refresh_token", "refresh_token": account.refresh_token}, failure="refresh"
            )
        except _Refused as exc:
            if exc.code == "invalid_client":  # the operator's app settings, not the person's token
                raise errors.Unauthorized(exc.message, host=account.host, status=401) from None
            raise RefreshRefused(exc.message) from None
        except SignInFailed as exc:
            raise errors.Unavailable(exc.message, host=account.host) from None
        access = _text(granted, "access_token")
        secrets_seen.SEEN.remember([access, _text(granted, "refresh_token")])
        if not access:
            raise errors.BadResponse("Buddy's refresh answer had no access token", host=account.host)
        refreshed = LinkedAccount(
            account.person,
            account.host,
            account.buddy_user_id,
            account.buddy_user_name,
            OAUTH,
            access,
            _text(granted, "refresh_token") or account.refresh_token,  # Buddy may or may not rotate it
            self._expiry(granted),
            account.scopes,
            account.linked_at,
        )
        await self.accounts.put(refreshed)
        log.info("refreshed the Buddy token of Slack user %s on %s", account.person.user, account.host)
        return refreshed

    # -- states -----------------------------------------------------------------------------------

    async def _state(self, state: str) -> _State | None:
        if not state or len(state) > MAX_STATE_CHARS:
            return None
        async with self.accounts.state.begin() as db:
            row = (await db.execute(select(oauth_states).where(oauth_states.c.state == state))).first()
        if row is None:
            return None
        return _State(SlackPerson(row.team, row.slack_user), row.host, row.code_verifier, row.created_at)

    async def _usable_state(self, found: _State | None) -> _State:
        if found is None:
            raise SignInFailed(
                "I don't know this sign-in link: it may be older than a day, or cut short. Type /buddy login in Slack "
                "for a new one."
            )
        if not found.verifier:
            raise SignInFailed(_ALREADY_USED)
        if self.clock() - found.created_at > STATE_TTL_S:
            raise SignInFailed("This sign-in link has expired (they last 10 minutes). Type /buddy login in Slack for a new one.")
        return found

    def _verifier(self, found: _State) -> str:
        try:
            return self.accounts.vault.open(found.verifier)
        except Unreadable:  # TOKEN_ENCRYPTION_KEY changed since the link was made
            raise SignInFailed("This sign-in link no longer works. Type /buddy login in Slack for a new one.") from None

    async def _take(self, state: str) -> bool:
        """Marks the state used; False when another request took it first (on any replica)."""
        async with self.accounts.state.begin() as db:
            taken = await db.execute(
                update(oauth_states)
                .where(oauth_states.c.state == state, oauth_states.c.code_verifier != "")
                .values(code_verifier="")
            )
            return taken.rowcount == 1

    # -- Buddy ------------------------------------------------------------------------------------

    def _expiry(self, granted: dict[str, Any]) -> float | None:
        lifetime = granted.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            return None  # tokens of OAuth apps made before March 2022 never expire
        return self.clock() + float(lifetime)

    async def _buddy_user(self, host: str, token: str) -> dict[str, Any]:
        try:
            user = await self.buddy.get_json(host, "/user", token=token)
        except errors.Forbidden:
            raise SignInFailed(
                "Buddy signed you in, but would not say who you are (the USER_INFO scope is missing). "
                "Ask the bot's operator to add USER_INFO to BUDDY_OAUTH_SCOPES.",
                status=502,
            ) from None
        except errors.BuddyError as exc:
            raise SignInFailed(
                f"Buddy signed you in, but reading your Buddy user failed ({_short(exc)}). Type /buddy login to try again.",
                status=502,
            ) from None
        if not isinstance(user, dict) or user.get("id") is None:
            raise SignInFailed("Buddy's answer about your user had no id. Type /buddy login to try again.", status=502)
        return user

    async def _token_call(self, host: str, form: dict[str, str], *, failure: str) -> dict[str, Any]:
        """``POST <api base>/oauth2/token``; _Refused when Buddy refuses, SignInFailed(status=502) when it
        does not answer usefully."""
        url = self.buddy.api_base(host) + "/oauth2/token"
        form = {
            **form,
            "client_id": self.settings.buddy_oauth_client_id,
            "client_secret": self.settings.buddy_oauth_client_secret,
        }
        headers = {"Accept": "application/json", "Accept-Encoding": ACCEPTED_ENCODINGS, "User-Agent": USER_AGENT}
        timeout = self.settings.buddy_timeout_s
        try:
            async with asyncio.timeout(timeout), httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
                async with client.stream("POST", url, data=form, headers=headers) as response:
                    body = await read_capped(response, MAX_BODY)
        except (TimeoutError, httpx.TimeoutException):
            self._metrics.buddy_call("/oauth2/token", "timeout")
            raise SignInFailed(f"{failure}: Buddy did not answer within {timeout:g} s. Try again.", status=502) from None
        except httpx.TransportError as exc:
            self._metrics.buddy_call("/oauth2/token", "connection_error")
            raise SignInFailed(
                f"{failure}: the connection to Buddy failed ({type(exc).__name__}). Try again.", status=502
            ) from None
        except (OverLimit, Undecodable):
            raise SignInFailed(f"{failure}: Buddy's answer could not be read. Try again.", status=502) from None
        self._metrics.buddy_call("/oauth2/token", response.status_code)
        parsed = _json_object(body)
        if response.status_code == 200 and parsed is not None:
            return parsed
        if 400 <= response.status_code < 500:
            said = _oauth_error(parsed) or f"HTTP {response.status_code}"
            log.info("Buddy refused a token request (%s): %s", form["grant_type"], said)
            code = parsed.get("error") if parsed is not None else None
            raise _Refused(f"{failure}: {said}. Type /buddy login in Slack to try again.", code if isinstance(code, str) else "")
        raise SignInFailed(f"{failure}: Buddy answered HTTP {response.status_code}. Try again in a minute.", status=502)


_ALREADY_USED = "This sign-in link was used already: each works once. Type /buddy login in Slack for a new one."


def _json_object(body: bytearray) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _oauth_error(body: dict[str, Any] | None) -> str:
    """``{"error": …, "error_description": …}`` (RFC 6749 §5.2) or Buddy's ``{"errors": [{"message"}]}``."""
    if not body:
        return ""
    said = [str(body[key])[:200] for key in ("error", "error_description") if isinstance(body.get(key), str)]
    said += [str(e.get("message"))[:200] for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
    return "; ".join(said)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(exc: errors.BuddyError) -> str:
    return f"HTTP {exc.status}" if exc.status else type(exc).__name__
