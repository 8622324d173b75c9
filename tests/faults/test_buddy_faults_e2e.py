"""Buddy misbehaving, through the running bot: each fault is switched on in the fake Buddy, the person
types /buddy (or mentions the bot), and the test reads what that person was shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.conftest import FAST
from tests.faults.driver import Person, assert_all_within_block_kit, launch_bot, seed, visible_text
from tests.fakes.buddy import FakeBuddy, reset_header
from tests.fakes.slack import FakeSlack

RETRIES = int(FAST["BUDDY_RETRIES"])
SCANNED_RUNS = int(FAST["BUDDY_EXECUTION_PAGES"]) * int(FAST["BUDDY_EXECUTION_PAGE_SIZE"])


def buddy_error(message: str) -> dict:
    return {"errors": [{"message": message}]}


def assert_only_told(person: Person, slash) -> str:
    """The answer was an error only the person saw: nothing was posted in the channel."""
    text = person.told(slash)
    assert not person.posts(person.channel)
    return text


# -- 401 / 403: the token -------------------------------------------------------------------------


@pytest.mark.parametrize("buddy_says", ["Invalid token", "Token has expired"])
def test_401_says_the_token_is_not_valid_here_and_how_to_add_one(person: Person, buddy_says: str):
    run = seed(person.buddy)
    person.buddy.fault(run.path, 401, body=buddy_error(buddy_says))
    slash = person.slash(run.numeric_execution_url)
    assert slash.status == 200 and "Looking up 1 Buddy run" in slash.ack_text
    text = assert_only_told(person, slash)
    assert "The Buddy token is not valid on app.buddy.works" in text
    assert "expired" in text and "Create a new token" in text and "BUDDY_HOST_TOKENS=app.buddy.works=" in text
    assert f"Buddy said: “{buddy_says}”" in text
    assert len(person.buddy_calls(run)) == 1  # a refused token is never retried


def test_403_api_disabled_says_the_api_is_off_and_where_to_turn_it_on(person: Person):
    run = seed(person.buddy)
    person.buddy.fault(run.path, 403, body=buddy_error("API is disabled in this workspace"))
    text = assert_only_told(person, person.slash(run.numeric_execution_url))
    assert "The Buddy API is turned off in workspace “acme”" in text
    assert "Workspace Settings → Developer API" in text
    assert "Buddy said: “API is disabled in this workspace”" in text
    assert len(person.buddy_calls(run)) == 1


@pytest.mark.parametrize(
    "buddy_says",
    ["Token does not have the required scope: EXECUTION_INFO", "Token is restricted to other workspaces",
     "Access from this IP address is not allowed"],
)
def test_403_scope_or_restriction_names_the_scope_and_the_restrictions(person: Person, buddy_says: str):
    run = seed(person.buddy)
    person.buddy.fault(run.path, 403, body=buddy_error(buddy_says))
    text = assert_only_told(person, person.slash(run.numeric_execution_url))
    assert "needs the scope EXECUTION_INFO (called PIPELINE_READ on newer installations)" in text
    assert "restricted to other workspaces or IP addresses" in text
    assert f"Buddy said: “{buddy_says}”" in text


# -- 404: wrong ids, another region, a web id too old ------------------------------------------


def test_404_on_a_region_host_points_at_the_other_regions(person: Person):
    link = "https://eu.buddy.works/acme/web/pipelines/pipeline/424242/execution/7"  # no such pipeline
    text = assert_only_told(person, person.slash(link))
    assert "Buddy has no such run: Pipeline not found" in text
    assert "another region (app.buddy.works, asia.buddy.works)" in text
    assert "the token must belong to that region" in text


def test_404_for_wrong_ids_says_to_check_them(person: Person):
    run = seed(person.buddy)
    text = assert_only_told(person, person.slash(f"acme web {run.pipeline_id} {run.execution.id} 0123456789abcdef"))
    assert "Buddy has no such run: Action execution not found" in text and "Check the ids" in text


def test_web_id_not_within_the_scanned_pages_says_so_after_a_bounded_search(person: Person):
    run = seed(person.buddy, runs=SCANNED_RUNS + 1)
    missing = run.execution_url.rsplit("/", 1)[0] + "/0123456789abcdef01234567"
    text = assert_only_told(person, person.slash(missing))
    assert f"run 0123456789abcdef01234567 is not among the latest {SCANNED_RUNS} runs of pipeline {run.pipeline_id}" in text
    pages = [c for c in person.buddy_calls(run) if c.path.endswith("/executions")]
    assert [c.query["page"] for c in pages] == [str(n) for n in range(1, int(FAST["BUDDY_EXECUTION_PAGES"]) + 1)]
    assert len(person.buddy_calls(run)) == len(pages)  # nothing else was asked


# -- 429: rate limits --------------------------------------------------------------------------


def test_short_rate_limit_is_waited_out_then_answered_with_exactly_two_calls(person: Person):
    run = seed(person.buddy)
    details = f"/action_executions/{run.action.ae_id}"
    person.buddy.fault(details, 429, headers=reset_header(1), times=1, body=buddy_error("Rate limit exceeded"))
    slash = person.slash(run.ids)
    [post] = person.wait_posts(person.channel)
    assert "Deploy" in visible_text(post.params) and "SUCCESSFUL" in visible_text(post.params)
    person.wait_uploads(person.channel)
    assert len(person.buddy_calls(details)) == 2  # the refused one, and one after the reset
    assert not person.slack.responses(slash.name)  # no error was shown


@pytest.fixture
def own_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[Person]:
    """A bot of its own: a long rate limit holds back all of that bot's calls to the host."""
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, FAST) as process:
        fake_buddy.clear_faults()
        fake_buddy.reset_calls()
        fake_slack.reset()
        yield Person(process, fake_slack, fake_buddy)
        assert_all_within_block_kit(fake_slack)


def test_long_rate_limit_tells_when_to_try_again_and_sends_nothing_until_then(own_bot: Person):
    person = own_bot
    run = seed(person.buddy)
    person.buddy.fault(run.path, 429, headers=reset_header(600), times=1, body=buddy_error("Rate limit exceeded"))
    text = assert_only_told(person, person.slash(run.numeric_execution_url))
    assert "Buddy's API rate limit is reached for now. Try again in 10 min" in text
    assert len(person.buddy.calls()) == 1
    again = assert_only_told(person, person.slash(run.ids))  # another run, same host: still held back
    assert "Try again in 10 min" in again
    assert len(person.buddy.calls()) == 1  # Buddy said "not before the reset": nothing was sent


# -- 5xx, timeouts, resets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        pytest.param({"status": 503}, "127.0.0.1 answered 503", id="503"),
        pytest.param({"status": 502, "raw": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"},
                     "127.0.0.1 answered 502", id="502-html-page"),
        pytest.param({"status": 200, "delay": 3.0}, f"no answer from 127.0.0.1 within {FAST['BUDDY_TIMEOUT_S']} s", id="timeout"),
        pytest.param({"reset": True}, "connection to 127.0.0.1 failed", id="connection-reset"),
    ],
)
def test_buddy_not_answering_is_retried_a_bounded_number_of_times_then_said(person: Person, fault: dict, detail: str):
    run = seed(person.buddy)
    person.buddy.fault(run.path, **fault)
    text = assert_only_told(person, person.slash(run.numeric_execution_url))
    assert "Buddy is not answering right now" in text and detail in text and "Try again in a minute" in text
    assert len(person.buddy_calls(run)) == RETRIES + 1  # BUDDY_RETRIES retries, not one more


def test_buddy_recovering_within_the_retries_is_answered(person: Person):
    run = seed(person.buddy)
    person.buddy.fault(run.path, 503, times=RETRIES)
    person.slash(run.numeric_execution_url)
    [post] = person.wait_posts(person.channel)
    assert "Deploy" in visible_text(post.params)


# -- bodies that are not what we expect --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "described"),
    [
        pytest.param({"raw": "<!DOCTYPE html><html><body>Maintenance</body></html>", "content_type": "text/html"},
                     "an HTML page", id="html-page"),
        pytest.param({"raw": '{"status": "SUCC'}, "a body that is not JSON", id="broken-json"),
        pytest.param({"raw": "[1, 2, 3]"}, "JSON that is not an object", id="json-array"),
        pytest.param({"raw": "[" * 100_000}, "a body that is not JSON", id="json-nested-too-deep"),
        pytest.param({"raw": "not gzip at all", "headers": {"Content-Encoding": "gzip"}},
                     "a body that could not be decoded", id="undecodable-body"),
    ],
)
def test_a_body_that_is_not_buddys_json_is_said_plainly(person: Person, fault: dict, described: str):
    run = seed(person.buddy)
    person.buddy.fault(run.path, 200, **fault)
    text = assert_only_told(person, person.slash(run.numeric_execution_url))
    assert "Buddy sent an answer the bot could not read" in text and described in text
    assert "check that BUDDY_API_URL points at Buddy's API" in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "details",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"status": "FAILED", "action": "not an object", "passed_variables": "nope", "start_date": "yesterday",
                      "progress": "half", "log": ["only line"]}, id="wrong-types"),
    ],
)
def test_details_with_missing_or_wrong_fields_still_get_a_summary_of_what_is_known(person: Person, details: dict):
    run = seed(person.buddy)
    person.buddy.fault(f"/action_executions/{run.action.ae_id}", 200, body=details)
    person.slash(run.ids)
    [post] = person.wait_posts(person.channel)
    text = visible_text(post.params)
    assert "Deploy to production" in text and "main" in text  # from the execution, which was fine
    assert "Traceback" not in text
    if "status" in details:
        assert "FAILED" in text


def test_execution_call_failing_still_gives_the_summary_with_a_note(person: Person):
    run = seed(person.buddy, status="FAILED", error_message="exit code 1")
    execution_path = f"{run.path}executions/{run.execution.id}"
    person.buddy.fault(execution_path, 503, whole_path=True)
    person.slash(run.ids)
    [post] = person.wait_posts(person.channel)
    text = visible_text(post.params)
    assert "FAILED" in text and "Deploy" in text and "exit code 1" in text
    assert "Run details (branch, revision, trigger) unavailable" in text
    [upload] = person.wait_uploads(person.channel)
    assert upload["content"].splitlines()[-1] == "line 40"
    assert len([c for c in person.buddy_calls(run) if c.path == execution_path]) == RETRIES + 1


# -- huge logs ---------------------------------------------------------------------------------

HUGE_LOG = [f"{i:06d} " + "x" * 93 for i in range(1, 100_001)]  # 100,000 lines, 10 MB


@pytest.mark.parametrize("in_details", [True, False], ids=["log-in-details", "logs-endpoint"])
def test_a_100k_line_10mb_log_still_gets_the_summary_and_its_tail(person: Person, in_details: bool):
    assert sum(len(line) + 1 for line in HUGE_LOG) >= 10_000_000
    run = seed(person.buddy, log=HUGE_LOG)
    person.buddy.include_log = in_details
    person.slash(run.ids)
    [post] = person.wait_posts(person.channel, timeout=30)
    assert "Deploy" in visible_text(post.params)
    [upload] = person.wait_uploads(person.channel, timeout=30)
    assert upload["content"].splitlines() == HUGE_LOG[-20:]
    assert upload["title"] == "Last 20 of 100,000 log lines · Deploy"
    assert upload["thread_ts"] == post.response["ts"]
    if not in_details:
        assert len(person.buddy.calls("/logs")) == 2  # the size, then only the tail
