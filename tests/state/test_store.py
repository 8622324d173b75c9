"""The state layer on both engines: choosing the engine, migrating (a release 0.1 file upgrades in
place), claims, readiness, and the start-up failures an operator can meet (one line, exit 2)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.buddy.refs import BuddyRef
from bot.config import ConfigError, Settings
from bot.state.claims import Claims
from bot.state.store import StateStore
from bot.state.url import database_url
from bot.subscriptions.store import Mode, PipelineKey, SubscriptionStore, Target
from bot.watch import Watcher

RELEASE_0_1 = Path(__file__).parent / "fixtures" / "release-0.1-state.sqlite"


def test_unset_database_url_means_sqlite_at_state_db(tmp_path):
    url = database_url(Settings(_env_file=None, state_db=tmp_path / "x.db"))
    assert (url.drivername, url.database) == ("sqlite+aiosqlite", str(tmp_path / "x.db"))


@pytest.mark.parametrize("given", ["postgresql://u:p@db.internal:5433/bot", "postgres://u:p@db.internal:5433/bot"])
def test_a_postgres_url_is_mapped_to_its_async_driver(given):
    url = database_url(Settings(_env_file=None, database_url=given))
    assert (url.drivername, url.host, url.port, url.database) == ("postgresql+asyncpg", "db.internal", 5433, "bot")


def test_database_url_and_state_db_together_are_refused_naming_both():
    with pytest.raises(ConfigError) as refused:
        database_url(Settings(_env_file=None, database_url="postgresql://u@h/db", state_db="here.db"))
    assert "DATABASE_URL" in str(refused.value) and "STATE_DB" in str(refused.value)


@pytest.mark.parametrize("given", ["mysql://u@h/db", "not a url", "postgresql://u@h"])
def test_other_databases_and_malformed_urls_are_refused_in_one_line(given):
    with pytest.raises(ConfigError) as refused:
        database_url(Settings(_env_file=None, database_url=given))
    assert str(refused.value).startswith("DATABASE_URL") and "\n" not in str(refused.value)


async def test_a_release_0_1_database_upgrades_in_place_with_its_subscriptions_and_watches(tmp_path):
    path = tmp_path / "bot-state.db"
    shutil.copy(RELEASE_0_1, path)
    settings = Settings(_env_file=None, state_db=path, buddy_token="t")
    state = await StateStore.open(settings)
    try:
        subscriptions = SubscriptionStore(state)
        [failures] = await subscriptions.for_channel("C0FAIL")
        assert (failures.target, failures.mode, failures.branch) == (Target("app.buddy.works", "Acme", "web", 7), Mode.FAILURES, None)
        [every] = await subscriptions.for_channel("C0ALL")
        assert (every.target, every.mode, every.branch) == (Target("app.buddy.works", "acme", "web"), Mode.ALL, "main")
        run = "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/65a1b2c3d4e5f60718293a4b"
        announced = await subscriptions.announcement("C0ALL", run)
        assert announced is not None and (announced.ts, announced.final) == ("1700000000.000100", False)
        # The last final status of 0.1 still decides what the next run means.
        after = await subscriptions.record_final(
            PipelineKey("app.buddy.works", "ACME", "web", 7), "main", run_url=run, run_order=42, status="SUCCESSFUL"
        )
        assert after.previous == "FAILED" and after.latest
        [watch] = await Watcher(state, None, None, settings).watches()  # type: ignore[arg-type]
        assert watch.ref == BuddyRef("app.buddy.works", "acme", "web", 7, "42", "a1b2c3")
        assert (watch.channel, watch.ts, watch.requested_by) == ("C0ALL", "1700000000.000100", "U2")
        assert not await Claims(state).claim("C0FAIL", "1700000000.000200")  # answered before the upgrade
    finally:
        await state.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0007",)]


async def test_opening_twice_is_a_no_op(state_settings):
    for _ in range(2):
        state = await StateStore.open(Settings(_env_file=None, **state_settings))
        await state.check("replica-a")
        await state.close()


async def test_a_message_is_claimed_once_until_released(state):
    claims = Claims(state)
    assert await claims.claim("C1", "1.1")
    assert not await claims.claim("C1", "1.1")
    assert await claims.claim("C1", "1.2")
    await claims.release("C1", "1.1")
    assert await claims.claim("C1", "1.1")


async def test_a_file_that_is_not_a_database_is_one_line_naming_state_db(tmp_path):
    path = tmp_path / "bot-state.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(ConfigError) as refused:
        await StateStore.open(Settings(_env_file=None, state_db=path))
    assert str(refused.value).startswith("STATE_DB:") and "not a SQLite database" in str(refused.value)


async def test_an_unreachable_postgres_is_one_line_naming_database_url(postgres):
    unreachable = f"postgresql://postgres@127.0.0.1:{_closed_port()}/nothing"
    with pytest.raises(ConfigError) as refused:
        await StateStore.open(Settings(_env_file=None, database_url=unreachable))
    said = str(refused.value)
    assert said.startswith("DATABASE_URL:") and "\n" not in said and "password" not in said.lower().split("check")[0]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
