"""The Buddy API budget, counted at the fake Buddy while the bot runs as a real process.

Counts, never times: how many calls one answer costs cold, again, when many ask at once, for a web
(hex) execution id, for approver names, for a log of 100,000 lines, and for why a failed action
failed (at most 5 ``/logs`` calls more than a successful run, none when the details carry ``log[]``).
``bench/`` measures the time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.lookup import Lookup
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy
from tests.fakes.slack import FakeSlack

PAGE_SIZE = 10
LOG_LINES = 20


@pytest.fixture(scope="module")
def buddy() -> Iterator[FakeBuddy]:
    fake = FakeBuddy().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def bot(tmp_path_factory, slack: FakeSlack, buddy: FakeBuddy) -> Iterator[BotProcess]:
    env = {"BUDDY_EXECUTION_PAGE_SIZE": str(PAGE_SIZE), "LOG_LINES": str(LOG_LINES), "LOG_LEVEL": "INFO"}
    process = BotProcess(tmp_path_factory.mktemp("bot"), slack_url=slack.url, buddy_url=buddy.url, env=env).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _fresh_traffic(buddy: FakeBuddy, slack: FakeSlack) -> None:
    buddy.reset_calls()
    buddy.latency = 0.0
    buddy.include_log = True
    slack.reset()


def numeric_url(run, action, pipeline_id: int) -> str:
    return BuddyRef("app.buddy.works", "acme", "web", pipeline_id, str(run.id), action.ae_id).web_url


def ask(bot: BotProcess, slack: FakeSlack, url: str, channel: str) -> None:
    """A /buddy command, answered: its summary posted and its snippet uploaded."""
    status, _ = bot.command(url, response_url=slack.response_url(channel), channel_id=channel)
    assert status == 200
    answered(slack, channel)


def answered(slack: FakeSlack, channel: str, count: int = 1) -> None:
    slack.wait_for("chat.postMessage", count, timeout=30, predicate=lambda c: c.channel == channel)
    slack.wait_for("files.completeUploadExternal", count, timeout=30, predicate=lambda c: c.channel == channel)


def paths(buddy: FakeBuddy) -> list[str]:
    return sorted(call.path.rsplit("/", 2)[-2] for call in buddy.calls())


def test_action_link_costs_two_calls_cold_and_none_again(bot, buddy, slack):
    action = FakeAction(log=[f"line {i}" for i in range(100)])
    run = buddy.add_execution(pipeline_id=101, actions=[action])
    url = numeric_url(run, action, 101)
    ask(bot, slack, url, "C1010")
    assert paths(buddy) == ["action_executions", "executions"]  # the details, and the execution
    ask(bot, slack, url, "C1011")
    assert len(buddy.calls()) == 2  # a finished run is answered from the cache


def test_fifty_identical_commands_at_once_cost_the_calls_of_one(bot, buddy, slack):
    action = FakeAction()
    run = buddy.add_execution(pipeline_id=102, actions=[action])
    url = numeric_url(run, action, 102)
    buddy.latency = 0.5  # the first lookup is still in flight while the others arrive
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: bot.command(url, response_url=slack.response_url("same"), channel_id="C1020")[0],
                                 range(50)))
    assert statuses == [200] * 50
    answered(slack, "C1020", count=50)
    assert len(buddy.calls()) == 2


def test_web_execution_id_costs_the_pages_scanned_once(bot, buddy, slack):
    runs = [buddy.add_execution(pipeline_id=103) for _ in range(25)]
    target, neighbour = runs[2], runs[5]  # on the third page (newest first, 10 a page), and on the second
    target_url = buddy.html_url("acme", "web", 103, target, target.actions[0])
    ask(bot, slack, target_url, "C1030")
    listings = [call.query["page"] for call in buddy.calls() if call.path.endswith("/executions")]
    assert listings == ["1", "2", "3"]
    assert len(buddy.calls()) == 3 + 2
    buddy.reset_calls()
    # Every id on the scanned pages was remembered: another run from them needs no scan.
    ask(bot, slack, buddy.html_url("acme", "web", 103, neighbour, neighbour.actions[0]), "C1031")
    assert paths(buddy) == ["action_executions", "executions"]
    buddy.reset_calls()
    ask(bot, slack, target_url, "C1032")
    assert buddy.calls() == []


def test_one_run_by_its_ids_then_by_its_web_link_costs_only_the_pages_scanned_the_second_time(bot, buddy, slack):
    runs = [buddy.add_execution(pipeline_id=108) for _ in range(25)]
    target = runs[2]  # on the third page, newest first, 10 a page
    action = target.actions[0]
    ask(bot, slack, numeric_url(target, action, 108), "C1080")
    assert paths(buddy) == ["action_executions", "executions"]
    buddy.reset_calls()
    ask(bot, slack, buddy.html_url("acme", "web", 108, target, action), "C1081")
    # The scan finds the run's API id; the finished run itself is then the one already answered.
    assert [call.query.get("page") for call in buddy.calls()] == ["1", "2", "3"]
    assert all(call.path.endswith("/executions") for call in buddy.calls())


def test_one_run_by_its_web_link_then_by_its_ids_costs_nothing_the_second_time(bot, buddy, slack):
    runs = [buddy.add_execution(pipeline_id=110) for _ in range(5)]
    target = runs[1]
    action = target.actions[0]
    ask(bot, slack, buddy.html_url("acme", "web", 110, target, action), "C1100")
    assert len(buddy.calls()) == 1 + 2  # one page, the details and the execution
    buddy.reset_calls()
    ask(bot, slack, numeric_url(target, action, 110), "C1101")
    assert buddy.calls() == []


def test_who_terminated_a_run_costs_one_members_call_for_all_runs_they_stopped(bot, buddy, slack):
    stopped_at = BASE_TIME + timedelta(seconds=30)
    runs = [
        buddy.add_execution(
            pipeline_id=109,
            status="TERMINATED",
            actions=[FakeAction(status="TERMINATED", terminator_id=9, termination_date=stopped_at)],
        )
        for _ in range(3)
    ]
    buddy.members[("acme", 9)] = "Tom Stopper"
    for n, run in enumerate(runs):
        ask(bot, slack, numeric_url(run, run.actions[0], 109), f"C109{n}")
    assert len([call for call in buddy.calls() if "/members/" in call.path]) == 1
    assert len(buddy.calls()) == 3 * 2 + 1
    assert "Tom Stopper" in str(slack.calls("chat.postMessage")[-1].params)


def test_approver_name_from_buddy_output_is_free_and_from_members_is_fetched_once(bot, buddy, slack):
    named = FakeAction(approver_id=7, approval_date=BASE_TIME,
                       outputted_variables=[{"key": "BUDDY_APPROVING_ACTOR", "value": "Mike"}])
    runs = [buddy.add_execution(pipeline_id=104, actions=[FakeAction(approver_id=8, approval_date=BASE_TIME)])
            for _ in range(3)]
    named_run = buddy.add_execution(pipeline_id=104, actions=[named])
    buddy.members[("acme", 8)] = "Jane Doe"
    ask(bot, slack, numeric_url(named_run, named, 104), "C1040")
    assert not [call for call in buddy.calls() if "/members/" in call.path]
    for n, run in enumerate(runs):
        ask(bot, slack, numeric_url(run, run.actions[0], 104), f"C104{n + 1}")
    assert len([call for call in buddy.calls() if "/members/" in call.path]) == 1
    assert "Jane Doe" in str(slack.calls("chat.postMessage")[-1].params)


def test_a_100000_line_log_in_the_details_is_answered_with_its_tail(bot, buddy, slack):
    log = [f"[{i:06d}] " + "x" * 92 for i in range(100_000)]  # ~10 MB
    action = FakeAction(log=log)
    run = buddy.add_execution(pipeline_id=105, actions=[action])
    ask(bot, slack, numeric_url(run, action, 105), "C1050")
    assert paths(buddy) == ["action_executions", "executions"]
    [snippet] = [upload for upload in slack.uploads() if upload["channel"] == "C1050"]
    assert snippet["content"].splitlines() == log[-LOG_LINES:]


def test_without_log_in_the_details_only_the_tail_is_read_from_the_logs_endpoint(bot, buddy, slack):
    buddy.include_log = False
    log = [f"line {i}" for i in range(100_000)]
    action = FakeAction(log=log)
    run = buddy.add_execution(pipeline_id=106, actions=[action])
    ask(bot, slack, numeric_url(run, action, 106), "C1060")
    reads = [(call.query["offset"], call.query["limit"]) for call in buddy.calls() if call.path.endswith("/logs")]
    assert reads == [("0", str(LOG_LINES)), (str(100_000 - LOG_LINES), str(LOG_LINES))]
    [snippet] = [upload for upload in slack.uploads() if upload["channel"] == "C1060"]
    assert snippet["content"].splitlines() == log[-LOG_LINES:]


def test_a_failed_action_with_log_in_the_details_costs_two_calls(bot, buddy, slack):
    log = [f"[{i:06d}] " + "x" * 40 for i in range(100_000)]
    log[99_000] = "error[E0308]: mismatched types"
    action = FakeAction(status="FAILED", log=log)
    run = buddy.add_execution(pipeline_id=111, actions=[action], status="FAILED")
    ask(bot, slack, numeric_url(run, action, 111), "C1110")
    assert paths(buddy) == ["action_executions", "executions"]


def test_a_failed_action_read_through_logs_costs_at_most_five_more_log_calls(bot, buddy, slack):
    buddy.include_log = False
    log = [f"line {i}" for i in range(100_000)]
    log[96_000] = "npm error Missing script: \"lint\""
    failed = FakeAction(status="FAILED", log=log)
    passed = FakeAction(status="SUCCESSFUL", log=log)
    run = buddy.add_execution(pipeline_id=112, actions=[failed, passed], status="FAILED")
    ask(bot, slack, numeric_url(run, passed, 112), "C1120")
    success = len(buddy.calls("/logs"))
    assert success == 2
    buddy.reset_calls()
    ask(bot, slack, numeric_url(run, failed, 112), "C1121")
    reads = sorted(((int(c.query["offset"]), int(c.query["limit"])) for c in buddy.calls("/logs")), reverse=True)
    # The first page learns the length (and is a whole log of up to 1,000 lines); then WHY_MAX_LINES
    # (5,000) lines from the end, 1,000 a page. The last of them is the snippet's tail as well.
    assert reads == [(99_000, 1000), (98_000, 1000), (97_000, 1000), (96_000, 1000), (95_000, 1000), (0, 1000)]
    assert len(reads) - success == 4 <= 5
    assert len(buddy.calls()) == 2 + len(reads)
    [snippet] = [upload for upload in slack.uploads() if upload["channel"] == "C1121"]
    assert snippet["content"].splitlines() == log[-LOG_LINES:]
    buddy.reset_calls()
    ask(bot, slack, numeric_url(run, failed, 112), "C1122")
    assert buddy.calls() == []  # a finished run, and its why, come from the cache


async def test_scans_for_different_runs_of_one_pipeline_at_once_share_each_page(buddy, settings):
    runs = [buddy.add_execution(pipeline_id=107) for _ in range(25)]
    wanted = runs[:5]  # all on the third page
    settings.buddy_execution_page_size = PAGE_SIZE
    buddy.latency = 0.2
    async with BuddyClient(settings) as client:
        lookup = Lookup(client, settings)
        refs = [BuddyRef("app.buddy.works", "acme", "web", 107, run.web_id, run.actions[0].ae_id) for run in wanted]
        reports = await asyncio.gather(*(lookup.report(ref) for ref in refs))
    assert [report.action.id_from_url for report in reports] == [run.actions[0].ae_id for run in wanted]
    listings = sorted(call.query["page"] for call in buddy.calls() if call.path.endswith("/executions"))
    assert listings == ["1", "2", "3"]


@pytest.fixture
def settings(buddy: FakeBuddy):
    from bot.config import Settings
    from tests.fakes.buddy import TOKEN

    return Settings(_env_file=None, buddy_token=TOKEN, buddy_api_url=buddy.url, buddy_retry_backoff_s=0.01,
                    buddy_timeout_s=5)
