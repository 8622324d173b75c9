"""Linked Buddy accounts in the state store: one per Slack person (team and user id) per Buddy host."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from bot.identity.vault import Unreadable, Vault
from bot.state.store import StateStore
from bot.state.tables import linked_accounts

OAUTH, PERSONAL = "oauth", "personal"


@dataclass(frozen=True)
class SlackPerson:
    team: str  # the enterprise id on Enterprise Grid, else the team id
    user: str

    @classmethod
    def of(cls, body: dict) -> SlackPerson:
        """From a command, an interaction or an event body, as Slack sends each."""
        enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
        team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
        return cls(str(enterprise or team or ""), str(user))

    @classmethod
    def of_event(cls, body: dict) -> SlackPerson | None:
        """The person who wrote an event's message (an ``event_callback`` body); None for none."""
        event = body.get("event") or {}
        user = event.get("user") if isinstance(event, dict) else None
        if not user:
            return None
        return cls(str(body.get("enterprise_id") or body.get("team_id") or event.get("team") or ""), str(user))


@dataclass
class LinkedAccount:
    person: SlackPerson
    host: str
    buddy_user_id: int | None
    buddy_user_name: str
    kind: str  # OAUTH or PERSONAL
    token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    scopes: tuple[str, ...] = ()
    linked_at: float = 0.0


class LinkedAccounts:
    def __init__(self, state: StateStore, vault: Vault, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.vault = vault
        self.clock = clock

    async def get(self, person: SlackPerson, host: str) -> LinkedAccount | None:
        """The person's account on ``host``; None if not linked, or linked under another key (then
        forgotten, so the person is asked to link again)."""
        async with self.state.begin() as db:
            row = (
                await db.execute(
                    select(linked_accounts).where(
                        linked_accounts.c.team == person.team,
                        linked_accounts.c.slack_user == person.user,
                        linked_accounts.c.host == host.lower(),
                    )
                )
            ).first()
        if row is None:
            return None
        try:
            token = self.vault.open(row.token)
            refresh = self.vault.open(row.refresh_token) if row.refresh_token else None
        except Unreadable:
            await self.forget(person, host)
            return None
        return LinkedAccount(
            person,
            row.host,
            row.buddy_user_id,
            row.buddy_user_name,
            row.kind,
            token,
            refresh,
            row.expires_at,
            tuple(s for s in row.scopes.split(",") if s),
            row.linked_at,
        )

    async def hosts(self, person: SlackPerson) -> list[str]:
        async with self.state.begin() as db:
            rows = await db.execute(
                select(linked_accounts.c.host)
                .where(linked_accounts.c.team == person.team, linked_accounts.c.slack_user == person.user)
                .order_by(linked_accounts.c.host)
            )
            return list(rows.scalars())

    async def put(self, account: LinkedAccount) -> None:
        """Keeps ``account``, replacing the person's earlier one on that host."""
        values = dict(
            buddy_user_id=account.buddy_user_id,
            buddy_user_name=account.buddy_user_name,
            kind=account.kind,
            token=self.vault.seal(account.token),
            refresh_token=self.vault.seal(account.refresh_token) if account.refresh_token else None,
            expires_at=account.expires_at,
            scopes=",".join(account.scopes),
            linked_at=account.linked_at or self.clock(),
        )
        key = dict(team=account.person.team, slack_user=account.person.user, host=account.host.lower())
        async with self.state.begin() as db:
            changed = await db.execute(
                update(linked_accounts).where(*(linked_accounts.c[name] == value for name, value in key.items())).values(**values)
            )
            if changed.rowcount == 0:
                await db.execute(linked_accounts.insert().values(**key, **values))

    async def forget(self, person: SlackPerson, host: str | None = None) -> int:
        """Deletes the person's token on ``host`` (every host: None); how many were deleted."""
        condition = (linked_accounts.c.team == person.team) & (linked_accounts.c.slack_user == person.user)
        if host is not None:
            condition = condition & (linked_accounts.c.host == host.lower())
        async with self.state.begin() as db:
            return (await db.execute(delete(linked_accounts).where(condition))).rowcount
