"""The token an action (or a read, with READ_AS_ASKER) is made with: the person's own, usable now."""

from __future__ import annotations

from bot.identity.accounts import LinkedAccount, LinkedAccounts, SlackPerson


class NotLinked(Exception):
    """The person has no Buddy account linked on this host (or it had to be forgotten)."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class LinkExpired(NotLinked):
    """The person's token was refused or ran out and could not be refreshed: they link again."""


class Identity:
    def __init__(self, accounts: LinkedAccounts) -> None:
        self.accounts = accounts

    async def usable(self, person: SlackPerson, host: str) -> LinkedAccount:
        """The person's linked account on ``host``; NotLinked if there is none."""
        account = await self.accounts.get(person, host)
        if account is None:
            raise NotLinked(host)
        return account
