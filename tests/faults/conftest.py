"""The fault-injection suite: one fake Buddy, one fake Slack and a running bot per module (a bot
takes seconds to start), reset before each test so that every test sees only its own traffic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.driver import Person, assert_all_within_block_kit, launch_bot
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.slack import FakeSlack

# Every wait the bot makes, short: retries, backoff, rate-limit waits.
FAST = {
    "BUDDY_RETRIES": "2",
    "BUDDY_RETRY_BACKOFF_S": "0.01",
    "BUDDY_TIMEOUT_S": "1",
    "BUDDY_RATE_LIMIT_MAX_WAIT_S": "2",
    "BUDDY_EXECUTION_PAGES": "2",
    "BUDDY_EXECUTION_PAGE_SIZE": "3",
    "SLACK_RETRY_BACKOFF_S": "0.01",
    "LOG_LINES": "20",
}


@pytest.fixture(scope="module")
def fake_buddy() -> Iterator[FakeBuddy]:
    fake = FakeBuddy().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    """The bot with FAST settings; a module needing other settings defines its own ``bot``."""
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, FAST) as process:
        yield process


@pytest.fixture
def person(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[Person]:
    """Someone using Slack with the running bot; the fakes start the test without faults or calls.
    Whatever the test did, every message the bot sent must have kept Block Kit's limits."""
    fake_buddy.clear_faults()
    fake_buddy.reset_calls()
    fake_buddy.include_log = True
    fake_buddy.latency = 0.0
    fake_slack.reset()
    yield Person(bot, fake_slack, fake_buddy)
    assert_all_within_block_kit(fake_slack)
