"""The models keep what newer Buddy installations send, and the renderers put it in words."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from bot.buddy.models import ActionExecution
from bot.buddy.refs import BuddyRef
from bot.render.facts import gather
from bot.render.plain import render_plain
from bot.render.status import status_style
from bot.report import RunReport

NO_SECRETS = re.compile("(?!)")
REF = BuddyRef("app.buddy.works", "acme", "web", 7, "12", "a1b2")


def facts_of(details: dict):
    return gather(RunReport(ref=REF, action=ActionExecution.model_validate(details), execution=None), secret_key_regex=NO_SECRETS)


def test_termination_is_kept_and_shown_with_who_and_when():
    details = {"status": "TERMINATED", "terminator_id": 9, "termination_date": "2025-05-28T09:52:08.709Z"}
    action = ActionExecution.model_validate(details)
    assert action.terminator_id == 9
    assert action.termination_date == datetime(2025, 5, 28, 9, 52, 8, 709000, tzinfo=timezone.utc)
    facts = facts_of(details)
    assert facts.terminated_by == "user #9"  # the lookup names them; offline, the id
    assert facts.terminated_at == action.termination_date
    named = facts_of({**details, "terminated_by": {"id": 9, "name": "Tom Stopper"}})
    text = render_plain(RunReport(ref=REF, action=ActionExecution.model_validate({**details, "terminated_by": {"name": "Tom"}}),
                                  execution=None), secret_key_regex=NO_SECRETS)
    assert named.terminated_by == "Tom Stopper"
    assert "Terminated by: Tom" in text and "Terminated at: 2025-05-28 09:52 UTC" in text


def test_a_fractional_progress_is_kept():
    assert ActionExecution.model_validate({"progress": 42.7}).progress == 42.7
    assert ActionExecution.model_validate({"progress": "55.5"}).progress == 55.5
    assert ActionExecution.model_validate({"progress": "half"}).progress is None


@pytest.mark.parametrize(
    ("sent", "shown"),
    [(42.7, 42), (99.9, 99), (100, 100), (250, 100), (-3, 0), (float("nan"), None), (float("inf"), None), (None, None)],
)
def test_progress_is_shown_in_whole_percent_rounded_down_and_within_0_to_100(sent, shown):
    assert facts_of({"progress": sent}).progress == shown


@pytest.mark.parametrize(
    ("status", "label"),
    [("TERMINATING", "Terminating"), ("WAITING_FOR_VT_SESSION", "Waiting for a VT session"), ("INITIAL", "Not started"),
     ("terminating", "Terminating")],
)
def test_the_newer_statuses_are_said_in_words_and_are_still_going(status, label):
    assert status_style(status).label == label
    assert status_style(status).code == status.upper()
    assert not ActionExecution.model_validate({"status": status}).is_finished
    text = render_plain(RunReport(ref=REF, action=ActionExecution.model_validate({"status": status}), execution=None),
                        secret_key_regex=NO_SECRETS)
    assert re.search(rf"^Status: +{status_style(status).char} {label} \({status.upper()}\)$", text, re.MULTILINE), text
