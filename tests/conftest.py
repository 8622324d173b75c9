"""Shared fixtures: the fake Buddy and Slack servers, and settings that point at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Settings
from tests.fakes.buddy import TOKEN, FakeBuddy


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No test reads the developer's own settings: a clean environment and no .env in the cwd."""
    import os

    for name in list(os.environ):
        if name.startswith(("BUDDY_", "SLACK_")) or name in {"LOG_LINES", "PORT", "STATE_DB", "REPLY_TO_LINKS"}:
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


from tests.fakes.conftest_plugin import fake_slack  # noqa: E402,F401 - a fixture, shared by import
