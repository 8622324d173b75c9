"""Each rendering test starts with a process that has met no secret yet: what one test taught the
registry (``bot.secrets_seen``) must not mask another test's text."""

from __future__ import annotations

import pytest

from bot import secrets_seen


@pytest.fixture(autouse=True)
def _no_secrets_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets_seen, "SEEN", secrets_seen.SecretRegistry())
