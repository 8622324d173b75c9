"""The last resort: a failure nobody foresaw (a bug) while answering still ends in a message telling
the person what to do, and in a traceback for the operator, never in silence."""

from __future__ import annotations

import logging

import pytest

from bot.answers import UNEXPECTED_FAILURE, Responder
from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.lookup import Lookup
from bot.render import block_kit_violations
from tests.faults.driver import visible_text

REF = BuddyRef("app.buddy.works", "acme", "web", 7, "12", "a1b2c3")


async def test_an_unforeseen_exception_becomes_a_notice_and_a_logged_traceback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    async with BuddyClient(settings) as client:
        lookup = Lookup(client, settings)

        async def broken(*_args: object, **_kwargs: object) -> None:
            raise KeyError("a bug")

        monkeypatch.setattr(lookup, "report", broken)
        with caplog.at_level(logging.ERROR, logger="bot.answers"):
            answer = await Responder(lookup, settings).answer(REF)
    assert answer.failed
    assert "Something went wrong on my side" in visible_text(answer.message)
    assert "tell the bot's operator" in UNEXPECTED_FAILURE
    assert block_kit_violations(answer.message) == []
    [record] = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is KeyError
