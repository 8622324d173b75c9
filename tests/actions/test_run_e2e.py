"""``/buddy run`` through the running bot: signed slash commands and clicks, the fake Buddy's POST of
executions, the linked accounts in the bot's own state file; a crash between the POST landing and
its record; the audit rows; and no token anywhere in Slack or the log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.render.blocks import LINK_ACTION
from bot.render.run import RUN_CANCEL_ACTION, RUN_CONFIRM_ACTION
from tests.fakes import linked
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import TOKEN as BOT_BUDDY_TOKEN
from tests.fakes.buddy import FakeBuddy
from tests.fakes.linked import Account
from tests.fakes.signing import block_actions_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until
from tests.faults.driver import assert_all_within_block_kit

KEY = Fernet.generate_key().decode()
ANA_TOKEN = "ana-personal-token-0123456789abcdef"
BO_TOKEN = "bo-personal-token-fedcba9876543210"
CHANNEL = "C_RUN"
PIPELINE = "https://app.buddy.works/acme/web/pipelines/pipeline/7"
RUN_SCOPES = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")


def link(state_db: Path, *accounts: Account) -> None:
    """Links (Slack user, Buddy user name, token, scopes) in the bot's state file, as /buddy login would."""
    linked.link(state_db, KEY, *accounts, buddy_user_id=100)


def start_bot(tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, **env: str) -> BotProcess:
    settings = {
        "TOKEN_ENCRYPTION_KEY": KEY,
        "WATCH_POLL_SECONDS": "0.2",
        "WATCH_BACKOFF_MAX_SECONDS": "0.4",
        **env,
    }
    return BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=settings).start()


@pytest.fixture
def people(tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> None:
    """Ana and Bo, linked with tokens that may run pipelines; Slack knows Ana as "ana"."""
    fake_buddy.add_user(ANA_TOKEN, "Ana Buddy", user_id=201, scopes=RUN_SCOPES)
    fake_buddy.add_user(BO_TOKEN, "Bo Buddy", user_id=202, scopes=RUN_SCOPES)
    link(tmp_path / "state.db", ("UANA", "Ana Buddy", ANA_TOKEN, RUN_SCOPES), ("UBO", "Bo Buddy", BO_TOKEN, RUN_SCOPES))
    fake_slack.users["UANA"] = {"name": "ana.l", "profile": {"display_name": "ana", "real_name": "Ana Lopez"}}


@pytest.fixture
def bot(people, tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = start_bot(tmp_path, fake_slack, fake_buddy)
    yield process
    process.stop()


def run(bot: BotProcess, fake_slack: FakeSlack, args: str, *, user: str = "UANA", name: str = "r1") -> str:
    """``/buddy run <args>`` from ``user``; returns the acknowledgement's body."""
    status, acknowledgement = bot.command(f"run {args}", response_url=fake_slack.response_url(name), channel_id=CHANNEL, user_id=user)
    assert status == 200
    return acknowledgement


def posts(fake_buddy: FakeBuddy) -> list:
    return [call for call in fake_buddy.calls("/pipelines/7/executions") if call.method == "POST"]


def summaries(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(CHANNEL) if m.get("blocks") and m.get("thread_ts") is None]


def audit_rows(state_db: Path) -> list[dict]:
    with sqlite3.connect(state_db) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM action_audit ORDER BY id")]


def watches(state_db: Path) -> int:
    with sqlite3.connect(state_db) as db:
        return db.execute("SELECT COUNT(*) FROM watches").fetchone()[0]


def said(fake_slack: FakeSlack, name: str = "r1") -> str:
    return json.dumps(fake_slack.responses(name))


def assert_no_token_shown(bot: BotProcess, fake_slack: FakeSlack) -> None:
    """No token (nor the encryption key) in anything sent to Slack or in the log; every message
    within Block Kit's limits; no traceback."""
    assert_all_within_block_kit(fake_slack)
    everything_sent = json.dumps([call.params for call in fake_slack.calls()])
    for token in (ANA_TOKEN, BO_TOKEN, BOT_BUDDY_TOKEN, KEY):
        assert token not in everything_sent
        assert token not in bot.log()
    assert "Traceback" not in bot.log()


def test_a_run_with_defaults_starts_head_on_the_pipelines_branch_named_for_the_person_and_is_followed(
    bot, tmp_path, fake_slack, fake_buddy
):
    fake_buddy.add_pipeline(pipeline_id=7, name="Deploy website", branch="main")
    acknowledgement = run(bot, fake_slack, PIPELINE)
    assert "Starting pipeline 7 of acme/web" in acknowledgement
    wait_until(lambda: summaries(fake_slack))

    [post] = posts(fake_buddy)
    assert post.headers["Authorization"] == f"Bearer {ANA_TOKEN}"
    body = json.loads(post.body)
    assert body["to_revision"] == {"revision": "HEAD"}
    assert body["branch"] == {"name": "main"}
    assert "variables" not in body
    [started] = fake_buddy.pipelines[("acme", "web", 7)]
    assert started.comment.startswith("Run from Slack by @ana [slack:")
    assert started.creator == "Ana Buddy"
    assert "<@" not in started.comment

    [summary] = summaries(fake_slack)
    assert "Deploy website" in json.dumps(summary["blocks"])
    state_db = tmp_path / "state.db"
    wait_until(lambda: watches(state_db) == 1)  # followed until it ends
    started.status, started.finish = "SUCCESSFUL", started.start
    fake_buddy.change(started, status="SUCCESSFUL", finish=started.start, log=["deployed"])
    wait_until(lambda: watches(state_db) == 0 and "Successful" in json.dumps(summaries(fake_slack)[0]["blocks"]))

    [row] = audit_rows(state_db)
    assert (row["action"], row["result"], row["slack_user"], row["buddy_user"]) == ("run", "done", "UANA", "Ana Buddy")
    assert row["execution_id"] == started.id
    assert row["run_url"] == fake_buddy.html_url("acme", "web", 7, started)
    assert_no_token_shown(bot, fake_slack)


def test_branch_revision_variables_and_a_comment_in_curly_quotes_go_to_buddy_as_given(bot, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7, name="Build", branch="main")
    run(bot, fake_slack, f"<{PIPELINE}|Build> branch=dev revision=4bc2f8a1 VERSION=“1.2 beta” FLAG=on comment=“the hotfix, it’s ready”")
    wait_until(lambda: summaries(fake_slack))
    [post] = posts(fake_buddy)
    body = json.loads(post.body)
    assert body["to_revision"] == {"revision": "4bc2f8a1"}
    assert body["branch"] == {"name": "dev"}
    assert body["variables"] == [{"key": "VERSION", "value": "1.2 beta"}, {"key": "FLAG", "value": "on"}]
    assert body["comment"].startswith("Run from Slack by @ana: the hotfix, it’s ready [slack:")
    [started] = fake_buddy.pipelines[("acme", "web", 7)]
    assert (started.branch, started.revision) == ("dev", "4bc2f8a1")
    assert_no_token_shown(bot, fake_slack)


def test_a_malformed_line_is_told_in_the_ack_and_costs_no_buddy_call(bot, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7)
    fake_buddy.reset_calls()
    acknowledgement = run(bot, fake_slack, f"{PIPELINE} comment=deploy now")
    assert 'quote the value whole: comment=\\"deploy now\\"' in acknowledgement
    assert "Starting" not in acknowledgement
    acknowledgement = run(bot, fake_slack, "branch=main", name="r2")
    assert "Put the pipeline link first" in acknowledgement
    bot.command("help", response_url=fake_slack.response_url("r3"), channel_id=CHANNEL)  # a later request, answered
    assert fake_buddy.calls() == []


def test_a_production_pipeline_asks_first_and_only_the_asker_may_confirm_once(bot, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7, name="Deploy to production", branch="main")
    run(bot, fake_slack, f"{PIPELINE} VERSION=2.0 API_TOKEN=hunter2-secret-value")
    wait_until(lambda: fake_slack.responses("r1"))
    [confirmation] = fake_slack.responses("r1")
    assert confirmation["response_type"] == "ephemeral"
    assert "Run *Deploy to production* on `main` at `HEAD`?" in json.dumps(confirmation["blocks"], ensure_ascii=False)
    shown_text = [block for block in confirmation["blocks"] if block["type"] != "actions"]
    assert "hunter2-secret-value" not in json.dumps(shown_text) + confirmation["text"]  # a secret variable is masked
    assert posts(fake_buddy) == []
    shown = {"ts": "1700000000.000100", "blocks": confirmation["blocks"]}

    def click(user: str, name: str, action: str = RUN_CONFIRM_ACTION) -> None:
        payload = block_actions_payload(
            shown, action, channel=CHANNEL, user_id=user, is_ephemeral=True, response_url=fake_slack.response_url(name)
        )
        assert bot.click(payload)[0] == 200

    click("UBO", "bo")  # someone else, with the value as it was shown to Ana
    wait_until(lambda: fake_slack.responses("bo"))
    assert "Only <@UANA>, who asked for this run, can confirm it" in said(fake_slack, "bo")
    assert posts(fake_buddy) == []

    click("UANA", "ana")
    wait_until(lambda: summaries(fake_slack))
    [post] = posts(fake_buddy)
    assert post.headers["Authorization"] == f"Bearer {ANA_TOKEN}"
    assert json.loads(post.body)["variables"] == [
        {"key": "VERSION", "value": "2.0"},
        {"key": "API_TOKEN", "value": "hunter2-secret-value"},
    ]
    assert fake_slack.responses("ana")[0]["replace_original"] is True

    assert "hunter2-secret-value" not in bot.log()
    click("UANA", "again")  # a second click of the same button
    wait_until(lambda: fake_slack.responses("again"))
    assert "confirmed already" in said(fake_slack, "again")
    assert len(posts(fake_buddy)) == 1
    assert [row["result"] for row in audit_rows(tmp_path / "state.db")] == ["done"]

    run(bot, fake_slack, PIPELINE, name="r2")
    wait_until(lambda: fake_slack.responses("r2"))
    second = {"ts": "1700000000.000200", "blocks": fake_slack.responses("r2")[0]["blocks"]}
    payload = block_actions_payload(second, RUN_CANCEL_ACTION, channel=CHANNEL, user_id="UANA",
                                    is_ephemeral=True, response_url=fake_slack.response_url("cancel"))
    bot.click(payload)
    wait_until(lambda: fake_slack.responses("cancel"))
    assert "Cancelled: nothing was started" in said(fake_slack, "cancel")
    assert len(posts(fake_buddy)) == 1
    assert_no_token_shown(bot, fake_slack)


def test_someone_not_linked_gets_the_link_button_and_nothing_starts(bot, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7)
    run(bot, fake_slack, PIPELINE, user="UNOBODY")
    wait_until(lambda: fake_slack.responses("r1"))
    [refusal] = fake_slack.responses("r1")
    assert refusal["response_type"] == "ephemeral"
    [button] = [e for b in refusal["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (LINK_ACTION, "app.buddy.works")
    assert "no Buddy account linked on app.buddy.works" in refusal["text"]
    assert posts(fake_buddy) == [] and fake_buddy.calls("/pipelines/7") == []
    [row] = audit_rows(tmp_path / "state.db")
    assert (row["result"], row["slack_user"], row["buddy_user"]) == ("refused", "UNOBODY", "")


@pytest.mark.parametrize("refusal", ["not-a-runner", "no-scope-in-buddy", "no-scope-linked", "no-such-pipeline", "may-not-read"])
def test_a_run_buddy_or_the_token_refuses_is_said_privately_and_audited(refusal, people, tmp_path, fake_slack, fake_buddy):
    expected = {
        "not-a-runner": "Buddy does not let you run Deploy website (Buddy said: “You don't have permission to run this pipeline”)",
        "no-scope-in-buddy": "Token has no permission to EXECUTION_RUN",
        "no-scope-linked": "it lacks the scope EXECUTION_RUN (PIPELINE_RUN on newer installations)",
        "no-such-pipeline": "Buddy has no pipeline 7 in acme/web",
        "may-not-read": "Buddy does not let you read this pipeline",
    }[refusal]
    if refusal != "no-such-pipeline":
        fake_buddy.add_pipeline(pipeline_id=7, runners={BO_TOKEN} if refusal == "not-a-runner" else None)
    if refusal == "no-scope-in-buddy":
        fake_buddy.users[ANA_TOKEN]["scopes"] = ["USER_INFO", "EXECUTION_INFO"]
        link(tmp_path / "state.db", ("UANA", "Ana Buddy", ANA_TOKEN, ()))  # scopes not known: Buddy decides
    if refusal == "no-scope-linked":
        link(tmp_path / "state.db", ("UANA", "Ana Buddy", ANA_TOKEN, ("USER_INFO", "EXECUTION_INFO")))
    if refusal == "may-not-read":
        fake_buddy.readers[("acme", "web", 7)] = {BO_TOKEN}
    bot = start_bot(tmp_path, fake_slack, fake_buddy)
    try:
        run(bot, fake_slack, PIPELINE)
        wait_until(lambda: fake_slack.responses("r1"))
        [message] = fake_slack.responses("r1")
        assert message["response_type"] == "ephemeral"
        assert expected in json.dumps(message, ensure_ascii=False)
        assert len(posts(fake_buddy)) == (1 if refusal in ("not-a-runner", "no-scope-in-buddy") else 0)
        if refusal != "no-such-pipeline":
            assert fake_buddy.pipelines[("acme", "web", 7)] == []
        assert summaries(fake_slack) == []
        [row] = audit_rows(tmp_path / "state.db")
        assert (row["action"], row["result"], row["execution_id"]) == ("run", "refused", None)
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()


def test_a_person_listed_in_act_with_bot_token_for_runs_with_the_bots_token_and_is_named(tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7, name="Nightly", branch="main")
    fake_buddy.token_info["scopes"] = ["WORKSPACE", "EXECUTION_INFO", "EXECUTION_RUN"]
    fake_slack.users["UOPS"] = {"profile": {"display_name": "ops-oncall", "real_name": "Ops"}}
    bot = start_bot(tmp_path, fake_slack, fake_buddy, ACT_WITH_BOT_TOKEN_FOR="UOPS")
    try:
        run(bot, fake_slack, PIPELINE, user="UOPS")
        wait_until(lambda: summaries(fake_slack))
        [post] = posts(fake_buddy)
        assert post.headers["Authorization"] == f"Bearer {BOT_BUDDY_TOKEN}"
        [started] = fake_buddy.pipelines[("acme", "web", 7)]
        assert started.comment.startswith("Run from Slack by @ops-oncall [slack:")
        [row] = audit_rows(tmp_path / "state.db")
        assert (row["result"], row["slack_user"], row["buddy_user"]) == ("done", "UOPS", "bot token")  # as the audit names the bot's token everywhere
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()


def test_a_crash_after_the_post_landed_is_taken_over_without_posting_again(people, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7, name="Deploy website", branch="main")
    # Buddy starts the run, then its answer is held: the bot is killed before it hears back.
    fake_buddy.fault("/pipelines/7/executions", status=200, method="POST", landed=True, delay=3600, times=1)
    bot = start_bot(tmp_path, fake_slack, fake_buddy, WORK_LEASE_S="1")
    try:
        run(bot, fake_slack, f"{PIPELINE} DEPLOY_TOKEN=typed-secret-77c1")
        wait_until(lambda: fake_buddy.pipelines[("acme", "web", 7)])
        bot.kill()
        # The unit waits in the store for its take-over: what was typed is kept there encrypted only.
        assert b"typed-secret-77c1" not in b"".join(path.read_bytes() for path in tmp_path.glob("state.db*"))
        fake_buddy.clear_faults()
        bot.start()  # the same state: the unit is taken over
        wait_until(lambda: summaries(fake_slack))
        assert len(posts(fake_buddy)) == 1  # looked for, found by its mark, not sent again
        [started] = fake_buddy.pipelines[("acme", "web", 7)]
        listed = [c for c in fake_buddy.calls("/pipelines/7/executions") if c.method == "GET" and c.path.endswith("/executions")]
        assert listed and all(c.headers["Authorization"] == f"Bearer {ANA_TOKEN}" for c in listed)
        [summary] = summaries(fake_slack)
        assert "Deploy website" in json.dumps(summary["blocks"])
        [row] = audit_rows(tmp_path / "state.db")
        assert (row["result"], row["execution_id"]) == ("done", started.id)
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()
    assert len(summaries(fake_slack)) == 1 and len(posts(fake_buddy)) == 1


def test_channels_and_workspaces_the_bot_may_not_read_are_refused_in_the_ack(people, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7)
    bot = start_bot(tmp_path, fake_slack, fake_buddy, SLACK_CHANNELS="C_OTHER", BUDDY_WORKSPACES="other")
    try:
        assert "add it to SLACK_CHANNELS" in run(bot, fake_slack, PIPELINE)
        status, acknowledgement = bot.command(f"run {PIPELINE}", response_url=fake_slack.response_url("r2"),
                                              channel_id="C_OTHER", user_id="UANA")
        assert "not allowed to read the Buddy workspace acme" in acknowledgement
        assert fake_buddy.calls() == []
    finally:
        bot.stop()


@pytest.mark.parametrize("fault", ["started-but-timed-out", "buddy-failing"])
def test_a_post_without_an_answer_is_looked_for_before_anything_is_said(fault, people, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7, name="Deploy website", branch="main")
    if fault == "started-but-timed-out":
        fake_buddy.fault("/pipelines/7/executions", status=200, method="POST", landed=True, delay=30, times=1)
    else:
        fake_buddy.fault("/pipelines/7/executions", status=500, method="POST")
    bot = start_bot(tmp_path, fake_slack, fake_buddy, BUDDY_TIMEOUT_S="1")
    try:
        run(bot, fake_slack, PIPELINE)
        if fault == "started-but-timed-out":
            wait_until(lambda: summaries(fake_slack))  # found by its mark: answered as if Buddy had said so
            assert fake_slack.responses("r1") == []
            [row] = audit_rows(tmp_path / "state.db")
            assert (row["result"], row["execution_id"]) == ("done", fake_buddy.pipelines[("acme", "web", 7)][0].id)
        else:
            wait_until(lambda: fake_slack.responses("r1"))
            assert "Buddy did not answer whether Deploy website started" in said(fake_slack)
            assert "Look at the pipeline in Buddy before trying again" in said(fake_slack)
            assert summaries(fake_slack) == []
            [row] = audit_rows(tmp_path / "state.db")
            assert row["result"] == "failed"
        assert len(posts(fake_buddy)) == 1  # a write is sent once, never retried
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()


def test_a_linked_token_buddy_no_longer_takes_asks_to_link_again(people, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_pipeline(pipeline_id=7)
    fake_buddy.tokens.discard(ANA_TOKEN)  # revoked in Buddy: 401
    bot = start_bot(tmp_path, fake_slack, fake_buddy)
    try:
        run(bot, fake_slack, PIPELINE)
        wait_until(lambda: fake_slack.responses("r1"))
        [refusal] = fake_slack.responses("r1")
        assert "has expired or was revoked. Link your account again" in refusal["text"]
        assert [e["action_id"] for b in refusal["blocks"] if b["type"] == "actions" for e in b["elements"]] == [LINK_ACTION]
        assert posts(fake_buddy) == []
        [row] = audit_rows(tmp_path / "state.db")
        assert (row["result"], row["detail"]) == ("refused", "LinkExpired")
        with sqlite3.connect(tmp_path / "state.db") as db:  # a personal token cannot be refreshed: forgotten
            assert db.execute("SELECT COUNT(*) FROM linked_accounts WHERE slack_user = 'UANA'").fetchone()[0] == 0
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()
