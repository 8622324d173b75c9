"""The lookup core against the fake Buddy API over real sockets: what it fetches, and how many calls."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.models import ActionExecution
from bot.buddy.refs import BuddyRef
from bot.lookup import Lookup, pick_action
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy


def ref_for(fake: FakeBuddy, execution, action=None, *, numeric: bool = False) -> BuddyRef:
    return BuddyRef(
        host="app.buddy.works", workspace="acme", project="web", pipeline_id=7,
        execution_id=str(execution.id) if numeric else execution.web_id,
        action_execution_id=action.ae_id if action else None,
    )


@pytest.fixture
async def lookup(settings):
    client = BuddyClient(settings)
    yield Lookup(client, settings)
    await client.aclose()


def api_calls(fake: FakeBuddy) -> list[str]:
    return [c.path for c in fake.calls()]


async def test_action_link_with_numeric_id_costs_two_calls(fake_buddy, lookup):
    action = FakeAction(name="Run tests", log=[f"line {i}" for i in range(50)])
    run = fake_buddy.add_execution(actions=[action], branch="main")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert len(fake_buddy.calls()) == 2
    assert report.action.action.name == "Run tests"
    assert report.execution.branch.name == "main"
    assert report.log_tail == [f"line {i}" for i in range(30, 50)]
    assert report.log_total_lines == 50


async def test_hex_web_id_is_resolved_once_and_remembered(fake_buddy, lookup):
    runs = [fake_buddy.add_execution() for _ in range(30)]
    target = runs[3]  # old enough to be on a later page when pages are small
    lookup.settings.buddy_execution_page_size = 10
    report = await lookup.report(ref_for(fake_buddy, target, target.actions[0]))
    assert report.action.status == "SUCCESSFUL"
    list_calls = [c for c in fake_buddy.calls() if c.path.endswith("/executions")]
    assert [c.query["page"] for c in list_calls] == ["1", "2", "3"]
    fake_buddy.reset_calls()
    # another action of a run seen on the scanned pages needs no scan
    neighbour = runs[20]
    await lookup.report(ref_for(fake_buddy, neighbour, neighbour.actions[0]))
    assert not [c for c in fake_buddy.calls() if c.path.endswith("/executions")]


async def test_a_scan_just_after_another_reuses_its_pages_and_a_newer_run_is_read_afresh(fake_buddy, lookup):
    lookup.settings.buddy_execution_page_size = 10
    runs = [fake_buddy.add_execution() for _ in range(30)]  # newest first: page 1 holds runs[29..20]

    def pages_read() -> list[str]:
        return [c.query["page"] for c in fake_buddy.calls() if c.path.endswith("/executions")]

    await lookup.report(ref_for(fake_buddy, runs[15], runs[15].actions[0]))
    assert pages_read() == ["1", "2"]
    fake_buddy.reset_calls()
    await lookup.report(ref_for(fake_buddy, runs[5], runs[5].actions[0]))  # a moment later, on page 3
    assert pages_read() == ["3"]
    fake_buddy.reset_calls()
    newer = fake_buddy.add_execution()  # started after those pages were read: on none of them
    report = await lookup.report(ref_for(fake_buddy, newer, newer.actions[0]))
    assert report.run_ref.execution_id == newer.web_id and pages_read() == ["1"]


async def test_hex_id_not_within_scanned_pages_is_not_found(fake_buddy, lookup):
    fake_buddy.add_execution()
    missing = BuddyRef("app.buddy.works", "acme", "web", 7, "ffffffffffffffffffffffff", "abc")
    with pytest.raises(errors.NotFound, match="not among the latest"):
        await lookup.report(missing)


async def test_finished_run_is_cached_and_identical_lookups_coalesce(fake_buddy, lookup):
    action = FakeAction()
    run = fake_buddy.add_execution(actions=[action])
    ref = ref_for(fake_buddy, run, action, numeric=True)
    fake_buddy.latency = 0.2
    reports = await asyncio.gather(*(lookup.report(ref) for _ in range(50)))
    assert len({id(r) for r in reports}) == 1
    assert len(fake_buddy.calls()) == 2
    await lookup.report(ref)
    assert len(fake_buddy.calls()) == 2


async def test_running_action_is_not_cached(fake_buddy, lookup):
    action = FakeAction(status="INPROGRESS", finish=None)
    run = fake_buddy.add_execution(actions=[action], status="INPROGRESS", finish=None)
    ref = ref_for(fake_buddy, run, action, numeric=True)
    await lookup.report(ref)
    await lookup.report(ref)
    assert len(fake_buddy.calls()) == 4


async def test_execution_link_picks_failed_action_and_keeps_overview(fake_buddy, lookup):
    actions = [FakeAction(name="Build"), FakeAction(name="Test", status="FAILED", log=["boom"]), FakeAction(name="Deploy", status="NOT_EXECUTED")]
    run = fake_buddy.add_execution(actions=actions, status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run))
    assert report.action.action.name == "Test"
    assert [a.action.name for a in report.actions] == ["Build", "Test", "Deploy"]
    assert report.log_tail == ["boom"]


async def test_pipeline_link_shows_latest_run(fake_buddy, lookup):
    fake_buddy.add_execution(actions=[FakeAction(name="old")])
    fake_buddy.add_execution(actions=[FakeAction(name="new")])
    report = await lookup.report(BuddyRef("app.buddy.works", "acme", "web", 7))
    assert report.action.action.name == "new"
    list_call = next(c for c in fake_buddy.calls() if c.path.endswith("/executions"))
    assert list_call.query["per_page"] == "1"


async def test_details_without_log_read_only_the_tail(fake_buddy, lookup):
    fake_buddy.include_log = False
    action = FakeAction(log=[f"l{i}" for i in range(5000)])
    run = fake_buddy.add_execution(actions=[action])
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert report.log_tail == [f"l{i}" for i in range(4980, 5000)]
    assert report.log_total_lines == 5000
    log_calls = [c for c in fake_buddy.calls() if c.path.endswith("/logs")]
    assert [(c.query["offset"], c.query["limit"]) for c in log_calls] == [("0", "20"), ("4980", "20")]


async def test_approver_from_output_costs_no_call_else_member_lookup_cached(fake_buddy, lookup):
    named = FakeAction(approver_id=1, approval_date=BASE_TIME, outputted_variables=[{"key": "BUDDY_APPROVING_ACTOR", "value": "Mike"}])
    anonymous = FakeAction(approver_id=2, approval_date=BASE_TIME + timedelta(seconds=5))
    run = fake_buddy.add_execution(actions=[named, anonymous])
    fake_buddy.members[("acme", 2)] = "Jane Doe"
    first = await lookup.report(ref_for(fake_buddy, run, named, numeric=True))
    assert first.approver_name == "Mike"
    assert not fake_buddy.calls("/members/")
    second = await lookup.report(ref_for(fake_buddy, run, anonymous, numeric=True))
    assert second.approver_name == "Jane Doe"
    lookup._finished.clear()
    await lookup.report(ref_for(fake_buddy, run, anonymous, numeric=True))
    assert len(fake_buddy.calls("/members/")) == 1


async def test_unknown_approver_falls_back_to_user_id(fake_buddy, lookup):
    action = FakeAction(approver_id=99)
    run = fake_buddy.add_execution(actions=[action])
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True))
    assert report.approver_name == "user #99"


async def test_missing_execution_still_answers_with_a_note(fake_buddy, lookup):
    action = FakeAction()
    run = fake_buddy.add_execution(actions=[action])
    fake_buddy.fault(f"/executions/{run.id}", status=403, times=None)
    fake_buddy.fault("/action_executions/", status=200)  # details pass through (first match wins)
    fake_buddy._faults.reverse()
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True))
    assert report.execution is None
    assert report.action.status == "SUCCESSFUL"
    assert any("unavailable" in note for note in report.notes)


def test_pick_action_prefers_failed_then_running_then_last():
    def a(status: str, finish: bool = True) -> ActionExecution:
        return ActionExecution(status=status, finish_date=BASE_TIME if finish else None)

    assert pick_action([a("SUCCESSFUL"), a("FAILED"), a("SUCCESSFUL")]).status == "FAILED"
    assert pick_action([a("SUCCESSFUL"), a("WAITING_FOR_APPLY", False), a("ENQUEUED", False)]).status == "WAITING_FOR_APPLY"
    assert pick_action([a("SUCCESSFUL"), a("SKIPPED")]).status == "SUCCESSFUL"
    assert pick_action([]) is None


async def test_a_finished_run_is_cached_by_its_api_id_however_it_is_linked(fake_buddy, lookup):
    action = FakeAction()
    run = fake_buddy.add_execution(actions=[action])
    by_ids = await lookup.report(ref_for(fake_buddy, run, action, numeric=True))
    fake_buddy.reset_calls()
    by_link = await lookup.report(ref_for(fake_buddy, run, action))
    assert api_calls(fake_buddy) == ["/workspaces/acme/projects/web/pipelines/7/executions"]  # the scan, only
    assert by_link.ref == ref_for(fake_buddy, run, action) and by_link.action == by_ids.action  # as it was asked for
    fake_buddy.reset_calls()
    again = await lookup.report(ref_for(fake_buddy, run, action))
    assert fake_buddy.calls() == [] and again.ref.execution_id == run.web_id


async def test_a_pipeline_link_to_a_finished_run_already_answered_costs_the_listing_only(fake_buddy, lookup):
    run = fake_buddy.add_execution(actions=[FakeAction(name="Build"), FakeAction(name="Deploy")])
    await lookup.report(ref_for(fake_buddy, run, numeric=True))
    fake_buddy.reset_calls()
    latest = await lookup.report(BuddyRef("app.buddy.works", "acme", "web", 7))
    assert len(fake_buddy.calls()) == 1 and fake_buddy.calls()[0].query["per_page"] == "1"
    assert latest.action.action.name == "Deploy" and latest.run_ref.execution_id == run.web_id
    fake_buddy.add_execution(actions=[FakeAction(name="Newer")])  # a newer run is the latest now
    assert (await lookup.report(BuddyRef("app.buddy.works", "acme", "web", 7))).action.action.name == "Newer"


async def test_a_fresh_look_skips_the_cache_by_whatever_name(fake_buddy, lookup):
    action = FakeAction()
    run = fake_buddy.add_execution(actions=[action])
    await lookup.report(ref_for(fake_buddy, run, action, numeric=True))
    fake_buddy.reset_calls()
    await lookup.report(ref_for(fake_buddy, run, action), fresh=True)
    assert len(fake_buddy.calls()) == 1 + 2


async def test_who_terminated_a_run_is_named_through_the_members_endpoint_once(fake_buddy, lookup):
    stopped_at = BASE_TIME + timedelta(seconds=30)
    first, second = (FakeAction(status="TERMINATED", terminator_id=5, termination_date=stopped_at) for _ in range(2))
    approved = FakeAction(approver_id=5, approval_date=BASE_TIME)
    run = fake_buddy.add_execution(actions=[first, second, approved], status="TERMINATED")
    fake_buddy.members[("acme", 5)] = "Tom Stopper"
    report = await lookup.report(ref_for(fake_buddy, run, first, numeric=True))
    assert report.action.terminated_by.name == "Tom Stopper" and report.action.terminator_id == 5
    assert report.action.termination_date == stopped_at
    await lookup.report(ref_for(fake_buddy, run, second, numeric=True))
    assert (await lookup.report(ref_for(fake_buddy, run, approved, numeric=True))).approver_name == "Tom Stopper"
    assert len(fake_buddy.calls("/members/")) == 1  # one name, for both roles


async def test_a_terminator_buddy_names_costs_no_call_and_an_unknown_one_is_shown_by_id(fake_buddy, lookup):
    named = FakeAction(status="TERMINATED", terminator_id=5, extra={"terminated_by": {"id": 5, "name": "Ann"}})
    unknown = FakeAction(status="TERMINATED", terminator_id=404)
    running = FakeAction(status="INPROGRESS", finish=None)
    run = fake_buddy.add_execution(actions=[named, unknown, running])
    assert (await lookup.report(ref_for(fake_buddy, run, named, numeric=True))).action.terminated_by.name == "Ann"
    assert not fake_buddy.calls("/members/")
    assert (await lookup.report(ref_for(fake_buddy, run, unknown, numeric=True))).action.terminated_by.name == "user #404"
    fake_buddy.reset_calls()
    assert (await lookup.report(ref_for(fake_buddy, run, running, numeric=True))).action.terminated_by is None
    assert len(fake_buddy.calls()) == 2  # nobody terminated it: no member lookup


# -- why a failed action failed (bot.why) --------------------------------------------------------


def numbered_log(total: int, errors: dict[int, str]) -> list[str]:
    """A ``total``-line log of noise with ``errors`` at the given 0-based lines."""
    return [errors.get(n, f"[{n:06d}] compiling module_{n % 97}.py ... ok") for n in range(total)]


def log_reads(fake: FakeBuddy) -> list[tuple[str, str]]:
    return [(c.query["offset"], c.query["limit"]) for c in fake.calls("/logs")]


async def test_a_failed_action_read_through_logs_says_why_with_its_line_in_the_whole_log(fake_buddy, lookup):
    fake_buddy.include_log = False
    log = numbered_log(100_000, {97_400: "sensor.c:18:25: error: 'struct reading' has no member named 'label'"})
    action = FakeAction(name="Build", status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert report.why is not None and (report.why.tool, report.why.rule) == ("compiler", "diagnostic")
    assert report.why.line_number == 97_401 and report.why.error_lines == [log[97_400]]
    assert report.why.context == log[97_397:97_404]
    assert report.log_tail == log[-20:] and report.log_total_lines == 100_000
    # The first page learns the length; then the last 5,000 lines, 1,000 a page, from the end back.
    assert sorted(log_reads(fake_buddy), key=lambda read: -int(read[0])) == [
        ("99000", "1000"), ("98000", "1000"), ("97000", "1000"), ("96000", "1000"), ("95000", "1000"), ("0", "1000")]
    assert len(fake_buddy.calls()) == 2 + 6  # a successful run's lookup: 2 + 2


async def test_a_failed_action_whose_details_carry_the_log_costs_no_extra_call(fake_buddy, lookup):
    log = numbered_log(20_000, {3_000: "panic: boom", 18_000: "--- FAIL: TestTotal (0.00s)"})
    action = FakeAction(status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert len(fake_buddy.calls()) == 2
    # Only the last WHY_MAX_LINES lines are read: the panic, 17,000 lines up, is outside them.
    assert report.why.line_number == 18_001 and report.why.failed_tests == ["TestTotal"]


async def test_a_successful_run_has_no_why_and_costs_what_it_did(fake_buddy, lookup):
    log = numbered_log(10_000, {5_000: "error: this line is not an error of a successful run"})
    action = FakeAction(status="SUCCESSFUL", log=log)
    run = fake_buddy.add_execution(actions=[action])
    ref = ref_for(fake_buddy, run, action, numeric=True)
    assert (await lookup.report(ref, lines=20)).why is None
    assert len(fake_buddy.calls()) == 2
    fake_buddy.include_log = False
    fake_buddy.reset_calls()
    assert (await lookup.report(ref, lines=20, fresh=True)).why is None
    assert log_reads(fake_buddy) == [("0", "20"), ("9980", "20")]


async def test_a_short_failed_log_is_read_in_one_call(fake_buddy, lookup):
    fake_buddy.include_log = False
    log = numbered_log(700, {650: "npm error Missing script: \"lint\""})
    action = FakeAction(status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert log_reads(fake_buddy) == [("0", "1000")]
    assert report.why.line_number == 651 and report.log_tail == log[-20:]


async def test_a_fresh_look_at_a_failed_action_reads_only_the_tail_again(fake_buddy, lookup):
    fake_buddy.include_log = False
    log = numbered_log(30_000, {29_000: "ERROR: No matching distribution found for pdfgen>=3.1"})
    action = FakeAction(status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    ref = ref_for(fake_buddy, run, action, numeric=True)
    first = await lookup.report(ref, lines=20)
    fake_buddy.reset_calls()
    again = await lookup.report(ref, lines=20, fresh=True)
    assert log_reads(fake_buddy) == [("0", "20"), ("29980", "20")]  # as for a successful run
    assert again.why == first.why and again.why.line_number == 29_001


async def test_a_log_page_that_fails_ends_the_window_after_it(fake_buddy, lookup):
    fake_buddy.include_log = False
    lookup.settings.buddy_retries = 0  # one call a page, so that a failed page stays failed
    log = numbered_log(100_000, {96_500: "panic: earlier", 98_500: "panic: later"})
    action, other = FakeAction(status="FAILED", log=log), FakeAction(status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action, other], status="FAILED")
    fake_buddy.fail_log_offsets = {97_000}
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    # The window is what could be read back from the end without a gap: from line 98,001 on.
    assert report.why.line_number == 98_501 and report.log_tail == log[-20:]
    fake_buddy.fail_log_offsets = {99_000}  # the last page itself: no tail, so no answer
    with pytest.raises(errors.BuddyError):
        await lookup.report(ref_for(fake_buddy, run, other, numeric=True), lines=20)


async def test_why_max_lines_bounds_the_window_and_its_pages(fake_buddy, lookup):
    fake_buddy.include_log = False
    lookup.settings.why_max_lines = 2000
    log = numbered_log(50_000, {47_000: "panic: outside the window", 49_000: "Traceback (most recent call last):"})
    action = FakeAction(status="FAILED", log=log)
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True), lines=20)
    assert len(log_reads(fake_buddy)) == 1 + 2
    assert report.why.line_number == 49_001 and report.why.rule == "traceback"


async def test_without_a_logs_endpoint_a_failed_action_has_no_why(fake_buddy, lookup):
    fake_buddy.include_log = False
    fake_buddy.fault("/logs", status=404, times=None)
    action = FakeAction(status="FAILED", log=["panic: boom"])
    run = fake_buddy.add_execution(actions=[action], status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run, action, numeric=True))
    assert report.why is None and report.log_tail == [] and report.action.status == "FAILED"


async def test_an_execution_link_says_why_its_failed_action_failed(fake_buddy, lookup):
    actions = [FakeAction(name="Build"), FakeAction(name="Test", status="FAILED", log=["$ go test ./...", "--- FAIL: TestTotal (0.00s)",
                                                                                       "    cart_test.go:8: Total() = 8; want 11"])]
    run = fake_buddy.add_execution(actions=actions, status="FAILED")
    report = await lookup.report(ref_for(fake_buddy, run))
    assert report.action.action.name == "Test"
    assert report.why.line_number == 2 and report.why.error_lines == actions[1].log[1:]
