"""Opening the state store: the engine for ``DATABASE_URL`` or ``STATE_DB``, the migrations, and a
write check for readiness.

SQLite is one process's store: one pooled connection (writes queue in the pool rather than fail with
"database is locked"), WAL so readers never block the writer. The connection is closed once the
store has been idle for a moment, so an idle bot holds no file of the store open (the file system
can then be remounted, or the file moved, without stopping the bot). PostgreSQL serves any number of
replicas; each statement is one short transaction, and every decision two replicas could race for is
a single conditional ``UPDATE`` or ``INSERT`` whose row count says who won.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.config import ConfigError, Settings
from bot.state.url import database_url, describe

log = logging.getLogger(__name__)
# Alembic says every step at INFO; the bot says once what changed (below).
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# One process writes a SQLite store; only a doctor run or a stray second process could make it wait.
SQLITE_BUSY_TIMEOUT_S = 1
POSTGRES_CONNECT_TIMEOUT_S = 10
POSTGRES_POOL_SIZE = 10
SQLITE_IDLE_CLOSE_S = 0.5


class StateUnavailable(Exception):
    """The state store cannot be read or written right now (disk full, read-only, database down)."""


class StateStore:
    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.where = describe(url)
        self._in_use = 0
        self._idle_close: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task | None = None
        # Set when a transaction failed: until a probe (``check``) succeeds, every other transaction
        # fails at once, so an outage costs a request no wait (an acknowledgement has 3 s).
        self.down: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @classmethod
    async def open(cls, settings: Settings) -> StateStore:
        """The store, migrated to the current schema. A store that cannot be used at all (a
        directory that cannot be written, a file that is not a database, a wrong password) is a
        ConfigError: one line naming the setting."""
        url = database_url(settings)
        if url.get_backend_name() == "sqlite":
            _check_sqlite_path(Path(url.database or ""))
        store = cls(_engine(url), url)
        try:
            async with store.engine.begin() as connection:
                await connection.run_sync(_upgrade)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            await store.engine.dispose()
            raise ConfigError(_explain_open_failure(url, exc)) from None
        log.debug("state: %s", store.where)
        return store

    @classmethod
    async def preflight(cls, settings: Settings) -> None:
        """What ``open`` would refuse, found before the bot logs anything: the URL, the directory,
        a file that is not a database, a server that cannot be reached. Changes nothing."""
        url = database_url(settings)
        if url.get_backend_name() == "sqlite":
            _check_sqlite_path(Path(url.database or ""))
        engine = _engine(url)
        try:
            async with engine.connect() as connection:
                probe = "SELECT count(*) FROM sqlite_master" if url.get_backend_name() == "sqlite" else "SELECT 1"
                await connection.execute(text(probe))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise ConfigError(_explain_open_failure(url, exc)) from None
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def begin(self, *, probe: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction; a database fault becomes StateUnavailable (at once while the store is
        known to be down, unless this is the ``probe`` that finds out whether it is back)."""
        if self.down is not None and not probe:
            raise StateUnavailable(self.down)
        if self._idle_close is not None:
            self._idle_close.cancel()
            self._idle_close = None
        if self._closing is not None:
            await asyncio.shield(self._closing)  # a pool being closed hands out no connection
        self._in_use += 1
        try:
            async with self.engine.begin() as connection:
                yield connection
        except IntegrityError:
            raise  # a constraint doing its job (a claim already taken), not a fault of the store
        except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
            self.down = _short(exc)
            raise StateUnavailable(self.down) from exc
        finally:
            self._in_use -= 1
            if self.is_sqlite and self._in_use == 0 and self._idle_close is None:
                self._idle_close = asyncio.get_running_loop().call_later(SQLITE_IDLE_CLOSE_S, self._close_when_idle)

    def _close_when_idle(self) -> None:
        self._idle_close = None
        if self._in_use == 0 and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._dispose())

    async def _dispose(self) -> None:
        try:
            await self.engine.dispose()
        finally:
            self._closing = None

    async def check(self, owner: str) -> None:
        """Raises StateUnavailable unless the store takes a write (readiness, and leaving an outage)."""
        async with self.begin(probe=True) as connection:
            updated = await connection.execute(
                text("UPDATE schedules SET due_at = :now, owner = :owner WHERE key = :key"),
                {"now": time.time(), "owner": owner, "key": f"ready:{owner}"},
            )
            if updated.rowcount == 0:
                await connection.execute(
                    text("INSERT INTO schedules (key, due_at, owner) VALUES (:key, :now, :owner)"),
                    {"now": time.time(), "owner": owner, "key": f"ready:{owner}"},
                )
        self.down = None

    async def close(self) -> None:
        if self._idle_close is not None:
            self._idle_close.cancel()
        await self.engine.dispose()


def _engine(url: URL) -> AsyncEngine:
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, pool_size=1, max_overflow=0, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection) -> None:
            # pysqlite's own transaction handling is off (isolation_level None): begin explicitly,
            # IMMEDIATE so a read-then-write transaction cannot be overtaken by another writer.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url,
        pool_size=POSTGRES_POOL_SIZE,
        pool_pre_ping=True,
        connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _upgrade(connection: Connection) -> None:
    before = MigrationContext.configure(connection).get_current_revision()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("state: schema upgraded from %s to %s", before or "release 0.1 (or empty)", after)


def _check_sqlite_path(path: Path) -> None:
    """Before SQLite says "unable to open database file": which of the usual reasons it is."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigError(f"STATE_DB: the directory {directory} does not exist; create it or point STATE_DB elsewhere.")
    probe = directory / f".{path.name}.write-check"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"STATE_DB: cannot write in {directory} ({exc.strerror or type(exc).__name__}); "
            f"point STATE_DB at a writable place, or make the directory writable."
        ) from None


def _explain_open_failure(url: URL, exc: Exception) -> str:
    original = getattr(exc, "orig", None)
    if url.get_backend_name() == "sqlite":
        if isinstance(original, sqlite3.DatabaseError) and "not a database" in str(original):
            return (
                f"STATE_DB: {url.database} is not a SQLite database (corrupt, or another kind of file); move it "
                f"away and start again (the bot then starts with an empty state), or point STATE_DB elsewhere."
            )
        return f"STATE_DB: cannot use {url.database} ({_short(exc)}); check the file and its directory."
    return (
        f"DATABASE_URL: cannot use {describe(url)} ({_short(exc)}); check that PostgreSQL is running there and "
        f"that the user, password and database in DATABASE_URL are right."
    )


def _short(exc: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's statement and link."""
    original = getattr(exc, "orig", None) or exc
    words = str(original).strip().splitlines()
    return (words[0] if words else type(original).__name__)[:300]
