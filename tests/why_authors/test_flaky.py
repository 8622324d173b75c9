"""The outcome history and the flaky classification, on SQLite and PostgreSQL (the ``state`` fixture)."""

from __future__ import annotations

from bot.subscriptions.store import PipelineKey
from bot.why.flaky import EVERY_ACTION, KEPT_RUNS, FlakyAction, LastPosts, Outcome, OutcomeHistory, outcomes_of
from tests.why_authors.helpers import OTHER_REVISION, PIPELINE, run

BUILD, TESTS = 1, 2


async def flaky_of(history: OutcomeHistory, execution, window: int = 20, pipeline: PipelineKey = PIPELINE):
    await history.record(pipeline, execution)
    return await history.flaky(pipeline, execution, window=window)


async def test_an_action_that_failed_then_passed_at_the_same_revision_in_a_later_run_is_flaky(state):
    history = OutcomeHistory(state)
    assert await flaky_of(history, run(1, (BUILD, "SUCCESSFUL"), (TESTS, "FAILED"))) == []  # nothing to go by yet
    await history.record(PIPELINE, run(2, (BUILD, "SUCCESSFUL"), (TESTS, "SUCCESSFUL")))  # "Retry": it passes
    found = await flaky_of(history, run(3, (BUILD, "SUCCESSFUL"), (TESTS, "FAILED"), revision=OTHER_REVISION))
    assert found == [FlakyAction(TESTS, "Action 2", times=1, runs=3)]
    assert found[0].note == "flaky: failed, then passed on retry, once in the last 3 runs"


async def test_a_retry_within_the_same_execution_counts_and_the_note_says_how_often(state):
    history = OutcomeHistory(state)
    for number in (1, 3, 5):  # the same run seen failing, then (retried in Buddy) passing
        await history.record(PIPELINE, run(number, (TESTS, "FAILED")))
        await history.record(PIPELINE, run(number, (TESTS, "SUCCESSFUL")))
        await history.record(PIPELINE, run(number + 1, (TESTS, "SUCCESSFUL")))
    found = await flaky_of(history, run(30, (TESTS, "FAILED"), revision=OTHER_REVISION))
    assert [(f.action_id, f.times, f.runs) for f in found] == [(TESTS, 3, 7)]
    assert found[0].note == "flaky: failed, then passed on retry, 3 times in the last 7 runs"


async def test_a_pass_at_another_revision_or_before_the_failure_is_not_flaky(state):
    history = OutcomeHistory(state)
    await history.record(PIPELINE, run(1, (TESTS, "SUCCESSFUL")))
    await history.record(PIPELINE, run(2, (TESTS, "FAILED")))  # passed before it failed: a real break
    await history.record(PIPELINE, run(3, (TESTS, "SUCCESSFUL"), revision=OTHER_REVISION))  # fixed by a commit
    assert await flaky_of(history, run(4, (TESTS, "FAILED"), revision=OTHER_REVISION)) == []
    # Within one run, a pass seen before the failure is no retry either.
    await history.record(PIPELINE, run(10, (BUILD, "SUCCESSFUL")))
    assert await flaky_of(history, run(10, (BUILD, "FAILED"))) == []


async def test_only_the_last_flaky_window_runs_count(state):
    history = OutcomeHistory(state)
    await history.record(PIPELINE, run(1, (TESTS, "FAILED")))
    await history.record(PIPELINE, run(2, (TESTS, "SUCCESSFUL")))
    for number in range(3, 8):
        await history.record(PIPELINE, run(number, (TESTS, "SUCCESSFUL"), revision=OTHER_REVISION))
    failing = run(8, (TESTS, "FAILED"), revision=OTHER_REVISION)
    assert [f.runs for f in await flaky_of(history, failing, window=8)] == [8]
    assert await history.flaky(PIPELINE, failing, window=7) == []  # runs 2–8: the failure of run 1 is out


async def test_seen_twice_by_webhook_and_poll_counts_once(state):
    history = OutcomeHistory(state)
    for _ in range(3):
        await history.record(PIPELINE, run(1, (TESTS, "FAILED")))
        await history.record(PIPELINE, run(2, (TESTS, "SUCCESSFUL")))
    [found] = await flaky_of(history, run(3, (TESTS, "FAILED"), revision=OTHER_REVISION))
    assert (found.times, found.runs) == (1, 3)


async def test_a_passed_run_whose_actions_are_not_listed_passes_for_each_action(state):
    """The executions list (what polling reads) leaves the actions out: a passed run still counts."""
    assert outcomes_of(run(2, status="SUCCESSFUL", listed_actions=False)) == [Outcome(EVERY_ACTION, "SUCCESSFUL")]
    assert outcomes_of(run(2, status="FAILED", listed_actions=False)) == []
    history = OutcomeHistory(state)
    await history.record(PIPELINE, run(1, (TESTS, "FAILED")))
    await history.record(PIPELINE, run(2, status="SUCCESSFUL", listed_actions=False))
    assert [f.times for f in await flaky_of(history, run(3, (TESTS, "FAILED"), revision=OTHER_REVISION))] == [1]


async def test_an_action_id_listed_twice_with_both_outcomes_failed_and_pipelines_are_apart(state):
    assert outcomes_of(run(1, (TESTS, "SUCCESSFUL"), (TESTS, "FAILED"))) == [Outcome(TESTS, "FAILED")]
    history = OutcomeHistory(state)
    other = PipelineKey("app.buddy.works", "ACME", "web", 8)
    await history.record(PIPELINE, run(1, (TESTS, "FAILED")))
    await history.record(other, run(2, (TESTS, "SUCCESSFUL")))  # another pipeline's pass
    assert await flaky_of(history, run(3, (TESTS, "FAILED"))) == []
    await history.record(PipelineKey("APP.buddy.works", "Acme", "WEB", 7), run(2, (TESTS, "SUCCESSFUL")))
    assert [f.times for f in await history.flaky(PIPELINE, run(3, (TESTS, "FAILED")), window=20)] == [1]


async def test_a_run_without_a_commit_or_number_is_not_recorded(state):
    history = OutcomeHistory(state)
    await history.record(PIPELINE, run(1, (TESTS, "FAILED"), revision=""))
    await history.record(PIPELINE, run(2, (TESTS, "SUCCESSFUL"), revision=""))
    assert await history.flaky(PIPELINE, run(3, (TESTS, "FAILED"), revision=""), window=20) == []


async def test_the_last_top_level_post_per_pipeline_and_channel(state):
    posts = LastPosts(state)
    assert await posts.last("C1", PIPELINE) is None
    await posts.record("C1", PIPELINE, "1700000000.000200")
    await posts.record("C1", PIPELINE, "1700000000.000100")  # an older post, recorded late: not moved back
    await posts.record("C2", PIPELINE, "1700000000.000300")
    assert await posts.last("C1", PipelineKey("app.buddy.works", "Acme", "web", 7)) == "1700000000.000200"
    await posts.record("C1", PIPELINE, "1700000001.000100")
    assert await posts.last("C1", PIPELINE) == "1700000001.000100"
    assert await posts.last("C2", PIPELINE) == "1700000000.000300"


async def test_the_history_keeps_the_last_kept_runs_of_a_pipeline(state):
    history = OutcomeHistory(state)
    await history.record(PIPELINE, run(1, (TESTS, "FAILED")))
    await history.record(PIPELINE, run(2, (TESTS, "SUCCESSFUL")))
    assert await flaky_of(history, run(KEPT_RUNS, (TESTS, "FAILED"))) != []  # runs 1 to 2000 are kept
    assert await flaky_of(history, run(1 + KEPT_RUNS, (TESTS, "FAILED"))) == []  # run 1 is forgotten
