"""Properties: noise around an error never changes what is found, and a failed action's log of any
length up to 100,000 lines, read through ``/logs`` from the fake Buddy, stays within the call budget."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.lookup import Lookup
from bot.why.finder import find_why
from bot.why.reading import PAGE_MAX
from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy
from tests.why.corpus import cases
from tests.why.noise import NOISE

CASES = cases()
LOG_LINES = 20
WHY_MAX_LINES = 5000
SUCCESS_LOG_CALLS = 2  # a successful run's tail through /logs: the first page, then the last
EXTRA_LOG_CALLS_MAX = 5  # the budget for a failed action

# Lines no rule matches: from the pool, or any text that the finder finds nothing in.
noise_line = st.one_of(
    st.sampled_from(NOISE),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=120).filter(
        lambda line: find_why([line]) is None
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=st.sampled_from(CASES), data=st.data())
def test_noise_around_the_error_never_changes_what_is_found(case, data):
    expected = case.expected
    error_index = expected["line_number"] - 1
    before = case.lines[:error_index]
    inserted = 0
    for _ in range(data.draw(st.integers(0, 8), label="noise before")):
        position = data.draw(st.integers(0, len(before)))
        before.insert(position, data.draw(noise_line))
        inserted += 1
    after = data.draw(st.lists(noise_line, max_size=8), label="noise after")
    lines = before + case.lines[error_index:] + after
    why = find_why(lines)
    assert (why.tool, why.rule) == (expected["tool"], expected["rule"])
    assert why.line_number == expected["line_number"] + inserted
    assert why.error_lines == expected["error_lines"]
    assert why.failed_tests == expected["failed_tests"] and why.failed_test_count == expected["failed_test_count"]


@pytest.fixture(scope="module")
def buddy() -> Iterator[FakeBuddy]:
    fake = FakeBuddy().start()
    fake.include_log = False  # only /logs: the reads the budget is about
    yield fake
    fake.stop()


def expected_log_calls(total: int) -> int:
    """A failed action's /logs calls for a ``total``-line log: the first page (1,000 lines), then the
    pages of the last WHY_MAX_LINES it does not already hold."""
    if total <= PAGE_MAX:
        return 1
    return 1 + math.ceil((total - max(total - WHY_MAX_LINES, PAGE_MAX)) / PAGE_MAX)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(total=st.one_of(st.just(100_000), st.integers(1, 100_000)), error_from_end=st.integers(1, 6000))
def test_a_failed_action_stays_within_the_call_budget_whatever_its_log(buddy, total, error_from_end):
    assume(error_from_end <= total)
    error_at = total - error_from_end  # 0-based
    log = [f"[{n:06d}] compiling module_{n % 97}.py ... ok" for n in range(total)]
    log[error_at] = "error[E0308]: mismatched types"
    failed = FakeAction(status="FAILED", log=log)
    passed = FakeAction(status="SUCCESSFUL", log=log)
    run = buddy.add_execution(pipeline_id=300, actions=[failed, passed], status="FAILED")
    config = Settings(_env_file=None, buddy_token=TOKEN, buddy_api_url=buddy.url, log_lines=LOG_LINES, why_max_lines=WHY_MAX_LINES)

    async def look(action: FakeAction) -> tuple[int, object]:
        buddy.reset_calls()
        async with BuddyClient(config) as client:
            report = await Lookup(client, config).report(BuddyRef("app.buddy.works", "acme", "web", 300, str(run.id), action.ae_id))
        return len(buddy.calls("/logs")), report

    failed_calls, report = asyncio.run(look(failed))
    success_calls, success = asyncio.run(look(passed))
    assert success.why is None and success_calls == (1 if total <= LOG_LINES else SUCCESS_LOG_CALLS)
    assert failed_calls == expected_log_calls(total)
    assert failed_calls - success_calls <= EXTRA_LOG_CALLS_MAX
    assert report.log_tail == log[-LOG_LINES:] and report.log_total_lines == total
    if error_from_end <= WHY_MAX_LINES:  # inside the window read
        assert report.why is not None and report.why.line_number == error_at + 1
        assert report.why.error_lines == ["error[E0308]: mismatched types"]
    else:  # before it: never read, so never found
        assert report.why is None
