"""The Responder that serves each Slack installation: the environment's (``base``) for one that set
nothing, else one built from its settings, with a Lookup of its own (its own caches and coalescing,
and a client that holds its token), so that no installation is ever served an answer read with
another's credential or allowed by another's settings.

Settings are read again from the store after ``KEPT_S``, so an admin's change on one replica reaches
the others within seconds; all of them are read at start (``warm``). While the store cannot be read,
the copy last read goes on serving. An installation whose settings were never read is then refused
(a responder whose ``unavailable`` says why) rather than served with the environment's token, which
it may have chosen not to use; with one workspace (``defaults_when_unread``) there is no other
installation's choice to get wrong, and it is served with the defaults.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from cachetools import LRUCache

from bot.answers import Responder
from bot.lookup import Coalescer, Lookup
from bot.state.store import StateUnavailable
from bot.tenancy.settings import WorkspaceSettings
from bot.tenancy.store import WorkspaceSettingsStore

log = logging.getLogger(__name__)

KEPT_S = 5.0
KEPT_INSTALLATIONS = 1024
UNREADABLE = "I can't read this Slack workspace's Buddy settings right now: my state store is unavailable. Try again in a minute."


class Tenants:
    def __init__(
        self,
        base: Responder,
        store: WorkspaceSettingsStore,
        *,
        kept_s: float = KEPT_S,
        clock: Callable[[], float] = time.monotonic,
        defaults_when_unread: bool = False,
    ) -> None:
        self.base = base
        self.store = store
        self.kept_s = kept_s
        self.clock = clock
        self.defaults_when_unread = defaults_when_unread
        self._first_reads = Coalescer()
        self._refreshing: dict[str, asyncio.Task] = {}
        self._refusing = Responder(base.lookup, base.settings, identity=base.identity, unavailable=UNREADABLE)
        # key -> (read again after, the settings read, the responder built from them)
        self._kept: LRUCache[str, tuple[float, WorkspaceSettings | None, Responder]] = LRUCache(maxsize=KEPT_INSTALLATIONS)

    async def responder(self, key: str | None) -> Responder:
        """The responder for the installation ``key`` (None: the environment's, for work no installation owns).

        A copy older than ``kept_s`` still answers at once while one read refreshes it: under a burst
        of requests the settings cost no wait, and the store one read, not one per request."""
        if key is None:
            return self.base
        kept = self._kept.get(key)
        if kept is None:
            return await self._first_reads.run(key, lambda: self._read(key))
        if kept[0] <= self.clock() and key not in self._refreshing:
            self._refreshing[key] = asyncio.create_task(self._refresh(key), name=f"settings:{key}")
        return kept[2]

    async def _read(self, key: str) -> Responder:
        try:
            chosen = await self.store.get(key)
        except StateUnavailable:
            return self.base if self.defaults_when_unread else self._refusing
        kept = self._kept.get(key)
        responder = kept[2] if kept is not None and kept[1] == chosen else self._build(chosen)
        self._kept[key] = (self.clock() + self.kept_s, chosen, responder)
        return responder

    async def _refresh(self, key: str) -> None:
        try:
            await self._read(key)  # the store down: the copy kept goes on serving, read again next time
        except Exception:
            log.exception("the settings of %s could not be read again", key)
        finally:
            self._refreshing.pop(key, None)

    async def warm(self, known: Iterable[str] = ()) -> None:
        """Every installation's settings read at once (at start), so that an outage of the store later
        finds a copy of each; ``known`` installations without settings are kept as such."""
        found: dict[str, WorkspaceSettings | None] = {key: None for key in known}
        found.update(await self.store.every())
        for key, chosen in found.items():
            self._kept[key] = (self.clock() + self.kept_s, chosen, self._build(chosen))

    async def settings_of(self, key: str) -> WorkspaceSettings | None:
        """What the installation's admins set (fresh from the store: the Settings form shows it)."""
        return await self.store.get(key)

    async def save(self, key: str, chosen: WorkspaceSettings) -> None:
        await self.store.put(key, chosen)
        self._kept.pop(key, None)

    async def forget(self, key: str) -> None:
        await self.store.forget(key)
        self._kept.pop(key, None)

    def _build(self, chosen: WorkspaceSettings | None) -> Responder:
        if chosen is None:
            return self.base
        base = self.base.lookup
        settings = chosen.applied_to(self.base.settings)
        lookup = Lookup(base.client.with_settings(settings), settings, shared_ids=base.shared_ids, finder=base.finder)
        return Responder(lookup, settings, identity=self.base.identity)
