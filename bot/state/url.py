"""Which database holds the state: ``DATABASE_URL`` (PostgreSQL), else SQLite at ``STATE_DB``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bot.config import ConfigError, Settings

DEFAULT_STATE_DB = Path("bot-state.db")
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}


def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL with its async driver. Setting both ``DATABASE_URL`` and ``STATE_DB``
    is refused: the operator would not know which one holds the state."""
    if settings.database_url and settings.state_db is not None:
        raise ConfigError(
            "DATABASE_URL and STATE_DB: both are set; keep DATABASE_URL for PostgreSQL (replicas) "
            "or STATE_DB for SQLite (one process), and remove the other."
        )
    if not settings.database_url:
        return URL.create("sqlite+aiosqlite", database=str(settings.state_db or DEFAULT_STATE_DB))
    try:
        url = make_url(settings.database_url.strip())
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL: write it as postgresql://user:password@host:5432/dbname") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL: only PostgreSQL is supported (postgresql://user:password@host:5432/dbname), "
            f"not {url.drivername}://; leave it unset for SQLite at STATE_DB."
        )
    if not url.database:
        raise ConfigError("DATABASE_URL names no database: end it with /<dbname>")
    return url.set(drivername="postgresql+asyncpg")


def describe(url: URL) -> str:
    """Where the state is, for the log and for error lines: never the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite at {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database}"
