"""The token an action (or a read, with READ_AS_ASKER) is made with: the person's own, usable now.

An OAuth token is refreshed when it has less than REFRESH_MARGIN_S left, and once more when Buddy
refuses it (``refused``). Within a process, one account's refreshes take turns (a lock per account),
so that requests arriving together make one refresh call and all get its token.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable

from bot import secrets_seen
from bot.buddy import errors
from bot.identity.accounts import OAUTH, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.oauth import BuddyOAuth, RefreshRefused

REFRESH_MARGIN_S = 60.0
# A refusal this soon after a refresh is of the token just replaced (requests that were in flight
# together): it gets the new token rather than a second refresh.
JUST_REFRESHED_S = 10.0

_Key = tuple[str, str, str]


class NotLinked(Exception):
    """The person has no Buddy account linked on this host (or it had to be forgotten)."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class LinkExpired(NotLinked):
    """The person's token was refused or ran out and could not be refreshed: they link again."""


class Identity:
    def __init__(
        self, accounts: LinkedAccounts, oauth: BuddyOAuth | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.accounts = accounts
        self.oauth = oauth
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[_Key, asyncio.Lock] = weakref.WeakValueDictionary()
        self._refreshed_at: dict[_Key, float] = {}  # time.monotonic() of each account's last refresh here

    async def usable(self, person: SlackPerson, host: str) -> LinkedAccount:
        """The person's linked account on ``host``, its token refreshed first if it runs out within
        REFRESH_MARGIN_S. NotLinked if there is none; LinkExpired if it ran out and Buddy refused the
        refresh (the account is then forgotten); a BuddyError if Buddy could not be asked and the
        token has run out."""
        account = await self._linked(person, host)
        if not self._expiring(account):
            return account
        key = _key(person, host)
        async with self._lock(key):
            account = await self._linked(person, host)  # refreshed meanwhile by whoever held the lock?
            if not self._expiring(account):
                return account
            try:
                return await self._refresh(account)
            except errors.BuddyError:
                if account.expires_at is not None and account.expires_at > self.clock():
                    return account  # still good for a few seconds; the next use tries again
                raise

    async def refused(self, person: SlackPerson, host: str, token: str | None = None) -> LinkedAccount:
        """Buddy answered 401 to the person's ``token`` on ``host``: one refresh is tried, and its
        account returned; LinkExpired (the account forgotten) when there is nothing to refresh or
        Buddy refuses. Without ``token``, a refusal within JUST_REFRESHED_S of a refresh here is
        taken to be of the token that refresh replaced."""
        key = _key(person, host)
        async with self._lock(key):
            account = await self._linked(person, host)
            replaced = account.token != token if token is not None else self._just_refreshed(key)
            if replaced:
                return account
            if account.kind != OAUTH or not self._can_refresh(account):
                await self.accounts.forget(person, host)
                raise LinkExpired(host)
            return await self._refresh(account)

    async def _refresh(self, account: LinkedAccount) -> LinkedAccount:
        """Under the account's lock. RefreshRefused forgets the account (LinkExpired)."""
        person, host = account.person, account.host
        if self.oauth is None or not self._can_refresh(account):
            if account.expires_at is not None and account.expires_at > self.clock():
                return account
            await self.accounts.forget(person, host)
            raise LinkExpired(host)
        try:
            refreshed = await self.oauth.refresh(account)
        except RefreshRefused:
            await self.accounts.forget(person, host)
            raise LinkExpired(host) from None
        self._refreshed_at[_key(person, host)] = time.monotonic()
        return refreshed

    async def _linked(self, person: SlackPerson, host: str) -> LinkedAccount:
        account = await self.accounts.get(person, host)
        if account is None:
            raise NotLinked(host)
        # Kept out of every log line and message from now on, whatever prints it.
        secrets_seen.SEEN.remember([account.token, account.refresh_token or ""])
        return account

    def _can_refresh(self, account: LinkedAccount) -> bool:
        """A refresh token, and the OAuth app still set up (its settings may have been removed since)."""
        return self.oauth is not None and self.oauth.enabled and bool(account.refresh_token)

    def _expiring(self, account: LinkedAccount) -> bool:
        return account.kind == OAUTH and account.expires_at is not None and account.expires_at - self.clock() < REFRESH_MARGIN_S

    def _just_refreshed(self, key: _Key) -> bool:
        at = self._refreshed_at.get(key)
        return at is not None and time.monotonic() - at < JUST_REFRESHED_S

    def _lock(self, key: _Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


def _key(person: SlackPerson, host: str) -> _Key:
    return person.team, person.user, host.lower()
