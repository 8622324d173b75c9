"""Why a run failed, as people see it, through the real bot process against the fake Slack and Buddy:
the summary of a `/buddy` answer, the thread of a subscription's announcement, `python -m bot show`
and a link preview. The failure finder reads the fake run's log; nothing here builds a Why by hand.

The log is a Go test run: its first error signal is the first ``--- FAIL:`` line, far above the log
tail (which stays the thread's snippet), and the line after it quotes a secret variable's value.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from bot.render.blocks import CLAIM_ACTION
from bot.render.facts import MASK
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import TOKEN, FakeAction, FakeBuddy, FakeExecution
from tests.fakes.buddy_webhooks import execution_payload, post_webhook
from tests.fakes.slack import FakeSlack
from tests.slack.test_unfurl_e2e import link_shared
from tests.subscriptions.test_subscriptions_e2e import make_bot, parents, subscribe, webhook_url
from tests.test_cli import run_cli

SECRET = "s3cr3t-deploy-key"
NOISE = ["Build started.", "$ go version", "go version go1.22.4 linux/amd64", "$ go test ./..."]
NOISE += [f"ok  \texample.com/shop/pkg{n}\t0.01{n}s" for n in range(1, 9)]
FIRST_ERROR = "--- FAIL: TestAdd (0.00s)"
GO_TEST = [  # as `go test ./...` prints a failed package: each --- FAIL line, then the test's messages
    FIRST_ERROR,
    f"    calc_test.go:9: deploy key {SECRET} was rejected",
    "--- FAIL: TestMul (0.00s)",
    "    calc_test.go:21: Mul(2, 3) = 5, want 6",
    "FAIL",
    "FAIL\texample.com/shop/calc\t0.002s",
]
CLEANUP = [f"cleanup step {n}" for n in range(1, 31)]
LOG = NOISE + GO_TEST + CLEANUP
ERROR_LINE = LOG.index(FIRST_ERROR) + 1  # 1-based, in the whole log
# "line 13 of the log", or "lines 13–14" when the finder takes the message under it as part of the error.
WHERE = re.compile(rf"line {ERROR_LINE} of the log|lines {ERROR_LINE}–\d+ of the log")


def failed_run(fake_buddy: FakeBuddy, **kw) -> tuple[FakeExecution, FakeAction]:
    now = datetime.now(timezone.utc)
    action = FakeAction(name="Unit tests", type="BUILD", status="FAILED", log=list(LOG), error_message="exit code 1",
                        passed_variables=[{"key": "DEPLOY_KEY", "value": SECRET, "encrypted": True}])
    run = fake_buddy.add_execution(status="FAILED", branch="main", actions=[FakeAction(name="Build"), action],
                                   start=now, finish=now + timedelta(seconds=95), **kw)
    return run, action


def why_section(message: dict) -> str:
    """The text of the summary's "Why it failed" section; fails when there is none."""
    found = [block["text"]["text"] for block in message.get("blocks", [])
             if block.get("type") == "section" and block.get("text", {}).get("text", "").startswith("*Why it failed*")]
    assert found, f"no Why it failed section in {json.dumps(message)[:2000]}"
    return found[0]


def assert_why_shown(section: str) -> None:
    heading, _, rest = section.partition("\n")
    assert WHERE.search(heading), heading
    code = rest.split("```")[1].split("\n")
    assert f"› {FIRST_ERROR}" in code, code
    assert f"  {NOISE[-1]}" in code  # the line before, as context
    assert "2 tests failed: `TestAdd`, `TestMul`" in section
    assert SECRET not in section and MASK in section  # the line quoting the secret is shown, masked
    assert "cleanup step" not in section


@pytest.fixture
def bot(tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env={"BUDDY_WORKSPACES": "acme"}).start()
    yield process
    process.stop()


def test_the_summary_of_a_buddy_answer_says_why_it_failed(bot, fake_slack, fake_buddy):
    run, action = failed_run(fake_buddy)
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    assert bot.command(url, response_url=fake_slack.response_url())[0] == 200
    [post] = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert_why_shown(why_section(post.params))
    assert post.params["blocks"][1]["text"]["text"].startswith("*Why it failed*")  # right under the header
    [claim] = [element for block in post.params["blocks"] if block["type"] == "actions"
               for element in block["elements"] if element["action_id"] == CLAIM_ACTION]
    assert claim["text"]["text"] == "I'm on it" and claim["value"] == url  # the run's link, as Refresh carries
    # The snippet in the thread is still the end of the log.
    fake_slack.wait_for("files.completeUploadExternal", timeout=10)
    [snippet] = fake_slack.uploads()
    assert snippet["thread_ts"] == post.response["ts"]
    assert snippet["content"].splitlines() == CLEANUP[-20:]


def test_the_thread_of_a_failure_announcement_says_why_it_failed(tmp_path, fake_slack, fake_buddy):
    process = make_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        subscribe(process, fake_slack, "CF", "failures")
        run, _ = failed_run(fake_buddy, listed=False)
        assert post_webhook(webhook_url(process), execution_payload(fake_buddy, run))[0] == 200
        fake_slack.wait_for("files.completeUploadExternal", timeout=20)
        [parent] = parents(fake_slack, "CF")
        thread = [c for c in fake_slack.calls("chat.postMessage") if c.params.get("thread_ts") == parent.response["ts"]]
        [details] = [c for c in thread if "Unit tests" in json.dumps(c.params)]
        assert_why_shown(why_section(details.params))
        assert SECRET not in json.dumps([c.params for c in fake_slack.calls()])
    finally:
        process.stop()


def test_python_m_bot_show_says_why_it_failed(fake_buddy, tmp_path):
    run, action = failed_run(fake_buddy)
    env = {"BUDDY_TOKEN": TOKEN, "BUDDY_API_URL": fake_buddy.url}
    result = run_cli("show", "acme", "web", "7", str(run.id), action.ae_id, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [heading] = [line for line in lines if line.startswith("Why it failed")]
    assert WHERE.search(heading) and heading.endswith(":")
    section = lines[lines.index(heading) + 1 :]
    section = section[: section.index("")] if "" in section else section
    assert f"  › {FIRST_ERROR}" in section and "    " + NOISE[-1].replace("\t", "    ") in section
    assert "  2 tests failed: TestAdd, TestMul" in section
    assert SECRET not in result.stdout and f"deploy key {MASK} was rejected" in result.stdout
    assert lines[-20:] == CLEANUP[-20:]  # the tail still follows


def test_the_preview_of_a_failed_run_shows_its_first_error_line_only(bot, fake_slack, fake_buddy):
    run, action = failed_run(fake_buddy)
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    bot.event(link_shared(url))
    [unfurl] = fake_slack.wait_for("chat.unfurl", timeout=15)
    [block] = unfurl.params["unfurls"][url]["blocks"]
    text = block["text"]["text"]
    assert text.split("\n")[-1] == f"`{FIRST_ERROR}`"
    for never in (SECRET, "calc_test.go", "TestMul", "example.com/shop", "cleanup step", "Why it failed"):
        assert never not in text, never
