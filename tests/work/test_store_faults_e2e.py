"""The state store failing under the running bot: a full disk (a 2 MB tmpfs the test mounts), a
read-only file system (the same tmpfs remounted), PostgreSQL stopped and started again. The bot keeps
answering from memory, says so once a minute (not per request), and leaves degraded mode on its own
once the store is back, having written down what it answered meanwhile: a retry of one of those
requests is not answered twice. Root ignores file permissions, hence the mounts (CI runs as root)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.home_publisher import STORE_DOWN as HOME_STORE_DOWN
from tests.conftest import TEMPLATE_DATABASE
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.postgres import PostgresServer
from tests.fakes.signing import post_signed, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until

FORM = "application/x-www-form-urlencoded"
DEGRADED = "state store unavailable"
RECOVERED = "state store available again"


def needs_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            raise AssertionError("the store-fault tests mount a tmpfs and must run as root in CI")
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    needs_root()
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Writes until the file system is full; returns the file to delete to free it again."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while os.write(descriptor, b"\0" * 4096):
                pass
    finally:
        os.close(descriptor)
    return filler



def a_run(fake_buddy: FakeBuddy) -> str:
    action = FakeAction(name="Build", status="SUCCESSFUL", log=["ok"])
    run = fake_buddy.add_execution(actions=[action])
    return fake_buddy.html_url("acme", "web", 7, run, action)


def summaries(fake_slack: FakeSlack, prefix: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for message in fake_slack.messages():
        if message["channel"].startswith(prefix) and message.get("blocks") and message.get("thread_ts") is None:
            seen[message["channel"]] = seen.get(message["channel"], 0) + 1
    return seen


def commands_while_degraded(bot: BotProcess, fake_slack: FakeSlack, url: str, prefix: str, count: int) -> list[str]:
    bodies = [slash_command_body(url, channel_id=f"{prefix}{n}", response_url=fake_slack.response_url(f"{prefix}{n}"))
              for n in range(count)]
    for body in bodies:
        assert post_signed(bot.events_url, body, SIGNING_SECRET, content_type=FORM)[0] == 200
    wait_until(lambda: len(summaries(fake_slack, prefix)) == count)
    return bodies


def ready(bot: BotProcess) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{bot.url}/ready", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def check_degraded_then_recovered(bot: BotProcess, fake_slack: FakeSlack, url: str, free: callable) -> None:
    bodies = commands_while_degraded(bot, fake_slack, url, "CDEG", 20)
    assert bot.log().count(DEGRADED) == 1  # once a minute, not once per request
    status, answer = ready(bot)
    assert status == 503 and answer["reason"].startswith("state store unavailable")
    # A retry while still degraded is not answered twice either (the answers are held in memory).
    assert post_signed(bot.events_url, bodies[0], SIGNING_SECRET, content_type=FORM)[0] == 200
    free()
    wait_until(lambda: RECOVERED in bot.log())
    wait_until(lambda: ready(bot)[0] == 200)
    # Written down: a retry of a request answered while degraded is still not answered again.
    for body in bodies[:3]:
        assert post_signed(bot.events_url, body, SIGNING_SECRET, content_type=FORM)[0] == 200
    after = commands_while_degraded(bot, fake_slack, url, "CAFTER", 3)
    assert len(after) == 3
    assert summaries(fake_slack, "CDEG") == {f"CDEG{n}": 1 for n in range(20)}
    assert "Traceback" not in bot.log()


def test_a_full_disk_keeps_the_bot_answering_and_it_recovers_by_itself(tmp_path, fake_slack, fake_buddy):
    url = a_run(fake_buddy)
    with tmpfs(tmp_path / "state") as state:
        bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url,
                         env={"STATE_DB": str(state / "bot-state.db"), "WORK_LEASE_S": "0.6"}).start()
        try:
            assert ready(bot) == (200, {"ready": True})
            filler = fill(state)
            check_degraded_then_recovered(bot, fake_slack, url, filler.unlink)
            with sqlite3.connect(state / "bot-state.db") as db:
                written = db.execute("SELECT COUNT(*) FROM work_units WHERE degraded").fetchone()[0]
            assert written >= 20
        finally:
            bot.stop()


def test_a_read_only_store_keeps_the_bot_answering_and_it_recovers_by_itself(tmp_path, fake_slack, fake_buddy):
    url = a_run(fake_buddy)
    with tmpfs(tmp_path / "state") as state:
        # A long lease keeps the upkeep loop quiet, so the idle bot holds no file of the store open
        # and the file system can be remounted under it.
        bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url,
                         env={"STATE_DB": str(state / "bot-state.db"), "WORK_LEASE_S": "30"}).start()
        try:
            assert ready(bot) == (200, {"ready": True})
            wait_until(lambda: subprocess.run(["mount", "-o", "remount,ro", str(state)], capture_output=True).returncode == 0)
            check_degraded_then_recovered(
                bot, fake_slack, url, lambda: subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)
            )
        finally:
            bot.stop()


def test_postgres_stopped_and_started_mid_run_keeps_the_bot_answering(tmp_path, fake_slack, fake_buddy):
    url = a_run(fake_buddy)
    server = PostgresServer().initdb().start()  # its own: this test stops it
    try:
        server.psql(f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
        bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url,
                         env={"DATABASE_URL": server.url(TEMPLATE_DATABASE), "WORK_LEASE_S": "0.6"}).start()
        try:
            assert ready(bot) == (200, {"ready": True})
            server.stop()
            # The Home tab, opened meanwhile, says the overview cannot be shown now (no traceback, no silence).
            assert bot.event({"type": "app_home_opened", "user": "U123", "tab": "home", "event_ts": "1700000000.1"})[0] == 200
            [published] = fake_slack.wait_for("views.publish", 1, timeout=15)
            assert HOME_STORE_DOWN in json.dumps(published.params["view"])

            def start_again() -> None:
                server.start()
                server.wait_until_accepting()

            check_degraded_then_recovered(bot, fake_slack, url, start_again)
        finally:
            bot.stop()
    finally:
        server.destroy()
