"""Shared fixtures: the fake Buddy and Slack servers, and settings that point at them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.config import Settings
from bot.state.store import StateStore
from tests.fakes.bot_process import FORK_ENV
from tests.fakes.buddy import TOKEN, FakeBuddy
from tests.fakes.postgres import PostgresServer

TEMPLATE_DATABASE = "buddy_template"


def pytest_configure(config: pytest.Config) -> None:
    """Every bot process a test starts is forked from one that has imported the bot (tests/fakes/zygote.py)."""
    import os

    os.environ[FORK_ENV] = "1"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No test reads the developer's own settings: a clean environment and no .env in the cwd."""
    import os

    for name in list(os.environ):
        if name.startswith(("BUDDY_", "SLACK_")) or name in {"LOG_LINES", "PORT", "STATE_DB", "DATABASE_URL", "REPLY_TO_LINKS"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake_buddy() -> Iterator[FakeBuddy]:
    fake = FakeBuddy().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(fake_buddy: FakeBuddy) -> Settings:
    """Settings for the core against the fake Buddy, with short waits so the suite stays fast."""
    return Settings(
        _env_file=None,
        buddy_token=TOKEN,
        buddy_api_url=fake_buddy.url,
        buddy_retry_backoff_s=0.01,
        buddy_rate_limit_max_wait_s=2,
        buddy_timeout_s=2,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session, with a template database already migrated.
    Where it cannot start, the tests that need it fail: they are never skipped."""
    server = PostgresServer().initdb().start()
    server.psql(f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
    settings = Settings(_env_file=None, database_url=server.url(TEMPLATE_DATABASE))
    asyncio.run(_migrate(settings))
    yield server
    server.destroy()


async def _migrate(settings: Settings) -> None:
    store = await StateStore.open(settings)
    await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def state_settings(request: pytest.FixtureRequest, tmp_path) -> dict[str, str]:
    """Where the state goes, once per engine: the settings a Settings object or a bot process takes."""
    if request.param == "sqlite":
        return {"state_db": str(tmp_path / "state.db")}
    server: PostgresServer = request.getfixturevalue("postgres")
    return {"database_url": server.new_database(template=TEMPLATE_DATABASE)}


@pytest.fixture
async def state(state_settings: dict[str, str]) -> AsyncIterator[StateStore]:
    """A migrated state store on each engine in turn."""
    store = await StateStore.open(Settings(_env_file=None, **state_settings))  # type: ignore[arg-type]
    yield store
    await store.close()


from tests.fakes.conftest_plugin import fake_slack  # noqa: E402,F401 - a fixture, shared by import
