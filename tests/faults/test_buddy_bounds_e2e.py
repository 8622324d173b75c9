"""Buddy's answers are bounded, through the running bot: in time (``BUDDY_TIMEOUT_S`` covers each attempt
whole, from connect to the last byte) and in size (``BUDDY_MAX_RESPONSE_MB``, counted after
decompression). Each fault ends in one line to the person within the bound, and the bot's memory
comes back to where it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.buddy import GZIP_BOMB_MB, FakeBuddy
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import Person, assert_all_within_block_kit, launch_bot, seed, unique, visible_text

# One byte a second must be well within aiohttp's per-read timeout of old, which it reset on every byte.
DRIP = {**FAST, "BUDDY_TIMEOUT_S": "2", "BUDDY_RETRIES": "1"}
TIMEOUT_S = float(DRIP["BUDDY_TIMEOUT_S"])
RETRIES = int(DRIP["BUDDY_RETRIES"])
MAX_MB = 32  # BUDDY_MAX_RESPONSE_MB's default, set explicitly
# Reading 32 MB must never be what times out, however busy the machine: the size tests get room.
ROOMY = {**FAST, "BUDDY_TIMEOUT_S": "15", "BUDDY_MAX_RESPONSE_MB": str(MAX_MB)}
RSS_MARGIN_MB = 64  # after a refusal, the bot's VmRSS is back within this of its level before
HWM_LIMIT_MB = MAX_MB + 150  # and its peak (VmHWM) never came near the bomb's 512 MB
SLACK_MARGIN_S = 2.0  # the bot's own work around the attempts: posting, scheduling on a busy machine


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid``, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


def reset_peak(pid: int) -> None:
    """Starts VmHWM afresh (``5`` to clear_refs), so each test measures its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def one_line(person: Person, slash) -> str:
    """The text of the one ephemeral message the command ended in: a single line."""
    [message] = person.ephemeral(slash, timeout=60)
    assert "\n" not in message["text"], message["text"]
    assert not person.posts(person.channel)
    return message["text"]


def warmed(person: Person) -> float:
    """Answers one run normally, in a channel of its own (imports, pools and caches in place), then
    gives the bot's VmRSS."""
    run, channel = seed(person.buddy), unique("C")
    person.slash(run.numeric_execution_url, channel=channel)
    person.wait_posts(channel)
    person.wait_uploads(channel)
    person.buddy.reset_calls()
    return memory_mb(person.bot.proc.pid)["VmRSS"]


@pytest.fixture(scope="module")
def bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, DRIP) as process:
        yield process


def test_a_buddy_dripping_one_byte_a_second_is_given_up_within_the_timeout_of_each_attempt(person: Person):
    warmed(person)
    run = seed(person.buddy)
    person.buddy.fault(run.path, 200, body_stream="drip")
    started = time.monotonic()
    text = one_line(person, person.slash(run.numeric_execution_url))
    elapsed = time.monotonic() - started
    assert "Buddy is not answering right now" in text and f"no answer from 127.0.0.1 within {TIMEOUT_S:g} s" in text
    assert len(person.buddy_calls(run)) == RETRIES + 1
    # BUDDY_TIMEOUT_S × (BUDDY_RETRIES + 1), the backoff (0.01 s, doubling), and the bot's own work.
    assert elapsed < TIMEOUT_S * (RETRIES + 1) + SLACK_MARGIN_S, elapsed


@pytest.fixture(scope="module")
def roomy_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, ROOMY) as process:
        yield process


@pytest.fixture
def roomy_person(roomy_bot, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[Person]:
    fake_buddy.clear_faults()
    fake_buddy.reset_calls()
    fake_slack.reset()
    yield Person(roomy_bot, fake_slack, fake_buddy)
    assert_all_within_block_kit(fake_slack)


@pytest.mark.parametrize("body_stream", ["endless", "gzip-bomb"], ids=["endless-chunked-body", "gzip-bomb-512mb"])
def test_an_answer_over_the_size_limit_is_refused_in_one_line_and_the_memory_comes_back(roomy_person: Person, body_stream: str):
    person = roomy_person
    pid = person.bot.proc.pid
    before = warmed(person)
    reset_peak(pid)
    run = seed(person.buddy)
    person.buddy.fault(run.path, 200, body_stream=body_stream)
    started = time.monotonic()
    text = one_line(person, person.slash(run.numeric_execution_url))
    elapsed = time.monotonic() - started
    assert text.startswith("Buddy sent more than I can read ("), text
    assert f"more than {MAX_MB} MB" in text and "BUDDY_MAX_RESPONSE_MB" in text
    assert len(person.buddy_calls(run)) == 1  # not retried: a second read would be just as big
    assert elapsed < float(ROOMY["BUDDY_TIMEOUT_S"]) + SLACK_MARGIN_S, elapsed
    peak = memory_mb(pid)["VmHWM"]
    assert peak < HWM_LIMIT_MB < GZIP_BOMB_MB, (peak, before)
    person.buddy.server.wait_until(lambda: memory_mb(pid)["VmRSS"] < before + RSS_MARGIN_MB, timeout=5)
    # The bot goes on answering as before.
    again = seed(person.buddy)
    person.slash(again.numeric_execution_url)
    [post] = person.wait_posts(person.channel)
    assert "Deploy" in visible_text(post.params)
