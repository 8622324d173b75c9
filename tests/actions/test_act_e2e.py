"""Approve, Provide variables, Retry and Cancel through the running bot: signed ``block_actions`` and
``view_submission`` payloads, the fake Buddy's PATCH of executions, accounts linked in the bot's own
state file. Done once (a double click, a crash after the PATCH landed), refused privately and
specifically, audited, and no token anywhere in Slack or the log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.render.blocks import LINK_ACTION
from tests.fakes import linked
from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import BASE_TIME, FakeAction, FakeBuddy, FakeExecution
from tests.fakes.buddy import TOKEN as BOT_BUDDY_TOKEN
from tests.fakes.linked import Account
from tests.fakes.signing import TEAM_ID, block_actions_payload, view_submission_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import wait_until

KEY = Fernet.generate_key().decode()
ANA_TOKEN = "ana-personal-token-0123456789abcdef"
BO_TOKEN = "bo-personal-token-fedcba9876543210"
CHANNEL = "C_ACT"
RUN_SCOPES = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")
ENV = {"TOKEN_ENCRYPTION_KEY": KEY, "WATCH_POLL_SECONDS": "0.3", "WATCH_BACKOFF_MAX_SECONDS": "0.5"}


def link(state_db: Path, *accounts: Account) -> None:
    """Links (Slack user, Buddy user name, token, scopes) in the bot's state file, as /buddy login would."""
    linked.link(state_db, KEY, *accounts)


def make_bot(tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, **env: str) -> BotProcess:
    return BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env={**ENV, **env})


@pytest.fixture
def people(tmp_path: Path, fake_buddy: FakeBuddy) -> None:
    """Ana and Bo, linked with tokens that may act on runs."""
    fake_buddy.add_user(ANA_TOKEN, "Ana Buddy", user_id=201, scopes=RUN_SCOPES)
    fake_buddy.add_user(BO_TOKEN, "Bo Buddy", user_id=202, scopes=RUN_SCOPES)
    fake_buddy.members[("acme", 201)] = "Ana Buddy"
    link(tmp_path / "state.db", ("UANA", "Ana Buddy", ANA_TOKEN, RUN_SCOPES), ("UBO", "Bo Buddy", BO_TOKEN, RUN_SCOPES))


@pytest.fixture
def bot(people, tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy):
    process = make_bot(tmp_path, fake_slack, fake_buddy).start()
    yield process
    process.stop()


# -- scenarios -----------------------------------------------------------------------------------


def waiting_for_approval(fake_buddy: FakeBuddy) -> FakeExecution:
    build = FakeAction(name="Build", status="SUCCESSFUL")
    gate = FakeAction(name="Approve deploy", type="WAIT_FOR_APPLY", status="WAITING_FOR_APPLY", finish=None, log=[])
    return fake_buddy.add_execution(actions=[build, gate], status="WAITING_FOR_APPLY", finish=None)


def failed(fake_buddy: FakeBuddy) -> FakeExecution:
    action = FakeAction(name="Test", status="FAILED", error_message="exit code 1", log=["E boom"])
    return fake_buddy.add_execution(actions=[action], status="FAILED")


def in_progress(fake_buddy: FakeBuddy) -> FakeExecution:
    action = FakeAction(name="Deploy", status="INPROGRESS", finish=None, log=["deploying"])
    return fake_buddy.add_execution(actions=[action], status="INPROGRESS", finish=None)


def waiting_for_variables(fake_buddy: FakeBuddy) -> FakeExecution:
    variables = [
        {"key": "VERSION", "value": "1.2", "encrypted": False, "description": "What to deploy"},
        {"key": "DEPLOY_TOKEN", "value": "s3cr3t-deploy-value", "encrypted": True},
    ]
    gate = FakeAction(name="Pass arguments", type="WAIT_FOR_VARIABLES", status="WAITING_FOR_VARIABLES", finish=None,
                      log=[], passed_variables=variables)
    return fake_buddy.add_execution(actions=[gate], status="WAITING_FOR_VARIABLES", finish=None)


def posted(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy, run: FakeExecution) -> dict:
    """Asks ``/buddy <run link>`` in the channel; returns the posted summary as Slack holds it."""
    bot.command(fake_buddy.html_url("acme", "web", 7, run), response_url=fake_slack.response_url(), channel_id=CHANNEL,
                user_id="UANA")
    wait_until(lambda: summaries(fake_slack))
    return summaries(fake_slack)[0]


def summaries(fake_slack: FakeSlack) -> list[dict]:
    return [m for m in fake_slack.messages(CHANNEL) if m.get("blocks") and m.get("thread_ts") is None]


def buttons(message: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}


def click(bot: BotProcess, message: dict, action_id: str, user: str) -> None:
    status, _ = bot.click(block_actions_payload(message, action_id, channel=CHANNEL, user_id=user))
    assert status == 200


def patches(fake_buddy: FakeBuddy) -> list:
    return [call for call in fake_buddy.calls("/executions/") if call.method == "PATCH"]


def updates_saying(fake_slack: FakeSlack, words: str) -> list:
    return [c for c in fake_slack.calls("chat.update") if words in json.dumps(c.params.get("blocks", []))]


def thread_notes(fake_slack: FakeSlack, ts: str) -> list[str]:
    return [m["text"] for m in fake_slack.messages(CHANNEL) if m.get("thread_ts") == ts and not m.get("files")]


def ephemerals_to(fake_slack: FakeSlack, user: str) -> list[str]:
    return [json.dumps(c.params, ensure_ascii=False) for c in fake_slack.calls("chat.postEphemeral") if c.params.get("user") == user]


def audit_rows(state_db: Path) -> list[dict]:
    with sqlite3.connect(state_db) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM action_audit ORDER BY id")]


def units_left(state_db: Path) -> int:
    with sqlite3.connect(state_db) as db:
        return db.execute("SELECT COUNT(*) FROM work_units WHERE status != 'done'").fetchone()[0]


def assert_no_token_shown(bot: BotProcess, fake_slack: FakeSlack) -> None:
    everything_sent = json.dumps([call.params for call in fake_slack.calls()])
    for token in (ANA_TOKEN, BO_TOKEN, BOT_BUDDY_TOKEN, KEY):
        assert token not in everything_sent
        assert token not in bot.log()
    assert "Traceback" not in bot.log()


# -- each action ---------------------------------------------------------------------------------


def test_approve_acts_as_the_clicker_updates_the_message_notes_the_thread_and_is_audited(bot, tmp_path, fake_slack, fake_buddy):
    run = waiting_for_approval(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    assert set(buttons(message)) >= {"buddy_approve", "buddy_refresh"}
    assert "buddy_cancel" not in buttons(message) and "buddy_retry" not in buttons(message)

    click(bot, message, "buddy_approve", "UANA")
    wait_until(lambda: updates_saying(fake_slack, "Approved by <@UANA>") and thread_notes(fake_slack, message["ts"]))
    [patch] = patches(fake_buddy)
    assert patch.headers["Authorization"] == f"Bearer {ANA_TOKEN}"
    assert json.loads(patch.body) == {"operation": "APPLY"}
    assert patch.path == f"/workspaces/acme/projects/web/pipelines/7/executions/{run.id}"
    assert run.actions[1].approver_id == 201 and run.status == "INPROGRESS"
    [update] = updates_saying(fake_slack, "Approved by <@UANA>")
    assert update.params["ts"] == message["ts"]
    assert "buddy_approve" not in json.dumps(update.params["blocks"])  # the run no longer waits
    assert "buddy_cancel" in json.dumps(update.params["blocks"])  # it runs: it can be cancelled
    assert thread_notes(fake_slack, message["ts"]) == ["<@UANA> approved this run as *Ana Buddy* in Buddy."]
    wait_until(lambda: audit_rows(tmp_path / "state.db"))
    [row] = audit_rows(tmp_path / "state.db")
    assert (row["action"], row["result"], row["slack_user"], row["buddy_user"], row["team"]) == (
        "approve", "done", "UANA", "Ana Buddy", TEAM_ID)
    assert row["run_url"] == fake_buddy.html_url("acme", "web", 7, run)

    # The run goes on to its end: the followed message is drawn again from Buddy, and keeps who approved it.
    run.status = "SUCCESSFUL"
    FakeBuddy.change(run, 1, status="SUCCESSFUL")

    def final_redraws() -> list:
        return [c for c in fake_slack.calls("chat.update")
                if c.params.get("ts") == message["ts"] and "buddy_cancel" not in json.dumps(c.params.get("blocks", []))]

    wait_until(final_redraws)
    assert all("Approved by <@UANA>" in json.dumps(c.params["blocks"]) for c in final_redraws())
    assert_no_token_shown(bot, fake_slack)


@pytest.mark.parametrize("scenario, action_id, operation, after, note", [
    (failed, "buddy_retry", "RETRY", "INPROGRESS", "retried this run"),
    (in_progress, "buddy_cancel", "CANCEL", "TERMINATED", "cancelled this run"),
])
def test_retry_and_cancel_move_the_run_as_the_clicker(bot, tmp_path, fake_slack, fake_buddy, scenario, action_id, operation,
                                                      after, note):
    run = scenario(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    button = buttons(message)[action_id]
    assert button["value"] == fake_buddy.html_url("acme", "web", 7, run)  # the run, as Refresh's
    if operation == "CANCEL":
        assert button["confirm"]["confirm"]["text"] == "Cancel the run" and button["style"] == "danger"
    click(bot, message, action_id, "UANA")
    wait_until(lambda: thread_notes(fake_slack, message["ts"]) and audit_rows(tmp_path / "state.db"))
    [patch] = patches(fake_buddy)
    assert json.loads(patch.body) == {"operation": operation}
    assert patch.headers["Authorization"] == f"Bearer {ANA_TOKEN}"
    assert run.status == after
    assert thread_notes(fake_slack, message["ts"]) == [f"<@UANA> {note} as *Ana Buddy* in Buddy."]
    done = "Retried" if operation == "RETRY" else "Cancelled"
    wait_until(lambda: updates_saying(fake_slack, f"{done} by <@UANA>"))
    assert audit_rows(tmp_path / "state.db")[0]["result"] == "done"
    assert_no_token_shown(bot, fake_slack)


def test_provide_variables_opens_a_form_at_once_with_secrets_blank_and_its_submission_applies_them(
    bot, tmp_path, fake_slack, fake_buddy
):
    run = waiting_for_variables(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    payload = block_actions_payload(message, "buddy_provide_variables", channel=CHANNEL, user_id="UANA")
    assert bot.click(payload)[0] == 200
    [opened] = fake_slack.wait_for("views.open")
    assert opened.params["trigger_id"] == payload["trigger_id"]
    assert "Reading the variables" in json.dumps(opened.params["view"])  # opened before Buddy was asked
    [update] = fake_slack.wait_for("views.update")
    view = fake_slack.views[update.params["view_id"]]
    inputs = {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}
    assert inputs["v:VERSION"]["element"]["initial_value"] == "1.2"
    assert "initial_value" not in inputs["s:DEPLOY_TOKEN"]["element"]
    assert "s3cr3t-deploy-value" not in json.dumps([call.params for call in fake_slack.calls()])
    assert patches(fake_buddy) == []

    values = {"v:VERSION": {"value": {"type": "plain_text_input", "value": "1.3"}},
              "s:DEPLOY_TOKEN": {"value": {"type": "plain_text_input", "value": None}}}
    submission = view_submission_payload(view, values, user_id="UANA")
    assert bot.click(submission)[0] == 200
    assert bot.click(submission)[0] == 200  # Slack delivering it twice: sent once
    wait_until(lambda: thread_notes(fake_slack, message["ts"]))
    [patch] = patches(fake_buddy)
    assert json.loads(patch.body) == {"operation": "APPLY_VARIABLES", "variables": [{"key": "VERSION", "value": "1.3"}]}
    assert patch.headers["Authorization"] == f"Bearer {ANA_TOKEN}"
    assert run.status == "INPROGRESS"
    assert thread_notes(fake_slack, message["ts"]) == ["<@UANA> provided this run's variables as *Ana Buddy* in Buddy."]
    wait_until(lambda: updates_saying(fake_slack, "Variables provided by <@UANA>"))
    assert [row["action"] for row in audit_rows(tmp_path / "state.db")] == ["variables"]
    assert_no_token_shown(bot, fake_slack)


def test_values_typed_into_the_variables_form_are_kept_encrypted_while_they_are_sent(bot, tmp_path, fake_slack, fake_buddy):
    run = waiting_for_variables(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    assert bot.click(block_actions_payload(message, "buddy_provide_variables", channel=CHANNEL, user_id="UANA"))[0] == 200
    [update] = fake_slack.wait_for("views.update")
    view = fake_slack.views[update.params["view_id"]]
    typed = "typed-deploy-secret-4f1c"
    values = {"v:VERSION": {"value": {"type": "plain_text_input", "value": "1.4"}},
              "s:DEPLOY_TOKEN": {"value": {"type": "plain_text_input", "value": typed}}}
    fake_buddy.fault("/executions/", method="PATCH", status=200, delay=2, times=1)  # the unit stays open 2 s
    assert bot.click(view_submission_payload(view, values, user_id="UANA"))[0] == 200
    wait_until(lambda: fake_buddy.calls("/executions/") and any(c.method == "PATCH" for c in fake_buddy.calls("/executions/")))
    at_rest = b"".join(path.read_bytes() for path in tmp_path.glob("state.db*"))
    assert typed.encode() not in at_rest
    wait_until(lambda: patches(fake_buddy))
    assert typed in patches(fake_buddy)[0].body
    assert typed not in bot.log()


# -- done once -----------------------------------------------------------------------------------


def test_a_double_click_makes_one_buddy_call_and_the_second_clicker_is_told_who_is_on_it(bot, tmp_path, fake_slack, fake_buddy):
    run = waiting_for_approval(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    fake_buddy.fault("/executions/", method="PATCH", status=200, delay=1.5, times=1)  # the first call in flight 1.5 s
    click(bot, message, "buddy_approve", "UANA")
    click(bot, message, "buddy_approve", "UBO")
    wait_until(lambda: thread_notes(fake_slack, message["ts"]) and ephemerals_to(fake_slack, "UBO"))
    wait_until(lambda: len(audit_rows(tmp_path / "state.db")) == 2)
    assert len(patches(fake_buddy)) == 1
    [told] = ephemerals_to(fake_slack, "UBO")
    assert any(words in told for words in (
        "Already being approved by <@UANA>", "<@UANA> just approved it", "no longer waiting for approval: approved by Ana Buddy"))
    assert thread_notes(fake_slack, message["ts"]) == ["<@UANA> approved this run as *Ana Buddy* in Buddy."]
    assert sorted(row["result"] for row in audit_rows(tmp_path / "state.db")) == ["done", "refused"]


def test_a_crash_after_the_patch_landed_is_taken_over_without_patching_again(people, tmp_path, fake_slack, fake_buddy):
    bot = make_bot(tmp_path, fake_slack, fake_buddy, WORK_LEASE_S="1").start()
    run = waiting_for_approval(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    fake_buddy.fault("/executions/", method="PATCH", landed=True, delay=3600, times=1)  # applied; the answer never comes
    click(bot, message, "buddy_approve", "UANA")
    wait_until(lambda: fake_buddy.operations)
    bot.kill()
    fake_buddy.clear_faults()

    bot.start()  # the same state: the click's unit is taken over
    try:
        wait_until(lambda: units_left(tmp_path / "state.db") == 0 and thread_notes(fake_slack, message["ts"]))
        assert len(patches(fake_buddy)) == 1
        assert len(fake_buddy.operations) == 1
        assert thread_notes(fake_slack, message["ts"]) == ["<@UANA> approved this run as *Ana Buddy* in Buddy."]
        assert updates_saying(fake_slack, "Approved by <@UANA>")
        [row] = audit_rows(tmp_path / "state.db")
        assert row["result"] == "done"
        assert "had landed before the take-over" in bot.log()
        assert_no_token_shown(bot, fake_slack)
    finally:
        bot.stop()


# -- refusals ------------------------------------------------------------------------------------


def test_someone_buddy_refuses_is_told_privately_and_nothing_changes(bot, tmp_path, fake_slack, fake_buddy):
    run = waiting_for_approval(fake_buddy)
    fake_buddy.operators[("acme", "web", 7)] = {ANA_TOKEN}
    message = posted(bot, fake_slack, fake_buddy, run)
    click(bot, message, "buddy_approve", "UBO")
    wait_until(lambda: ephemerals_to(fake_slack, "UBO"))
    [told] = ephemerals_to(fake_slack, "UBO")
    assert "Buddy did not let you approve this run (as Bo Buddy): you may not do that in Buddy" in told
    assert len(patches(fake_buddy)) == 1 and run.status == "WAITING_FOR_APPLY"
    assert thread_notes(fake_slack, message["ts"]) == [] and not updates_saying(fake_slack, "Approved by")
    wait_until(lambda: audit_rows(tmp_path / "state.db"))
    [row] = audit_rows(tmp_path / "state.db")
    assert (row["result"], row["buddy_user"]) == ("refused", "Bo Buddy") and row["detail"].startswith("forbidden")

    click(bot, message, "buddy_approve", "UANA")  # refused calls do not hold the lock: Ana may approve at once
    wait_until(lambda: thread_notes(fake_slack, message["ts"]))
    assert run.status == "INPROGRESS" and len(patches(fake_buddy)) == 2


def test_a_run_that_stopped_waiting_after_the_message_is_refused_saying_who_approved_it(bot, fake_slack, fake_buddy):
    run = waiting_for_approval(fake_buddy)
    run.actions.append(FakeAction(name="Deploy", status="ENQUEUED", start=None, finish=None, log=[]))
    message = posted(bot, fake_slack, fake_buddy, run)
    assert buttons(message)["buddy_approve"]["value"] == fake_buddy.html_url("acme", "web", 7, run, run.actions[1])
    fake_buddy.members[("acme", 301)] = "Cy Buddy"  # approved in Buddy meanwhile, by Cy
    fake_buddy.change(run, 1, status="SUCCESSFUL", finish=BASE_TIME, approver_id=301, approval_date=BASE_TIME)
    fake_buddy.change(run, 2, status="INPROGRESS", start=BASE_TIME)
    run.status = "INPROGRESS"
    click(bot, message, "buddy_approve", "UANA")
    wait_until(lambda: ephemerals_to(fake_slack, "UANA"))
    [told] = ephemerals_to(fake_slack, "UANA")
    assert "This run is no longer waiting for approval: approved by Cy Buddy at <!date^" in told
    assert "It is in progress now." in told
    assert patches(fake_buddy) == []

    retry_run = in_progress(fake_buddy)
    other = posted_again(bot, fake_slack, fake_buddy, retry_run)
    fake_buddy.change(retry_run, status="SUCCESSFUL", finish=BASE_TIME)
    retry_run.status, retry_run.finish = "SUCCESSFUL", BASE_TIME
    click(bot, other, "buddy_cancel", "UANA")
    wait_until(lambda: len(ephemerals_to(fake_slack, "UANA")) == 2)
    assert "This run has ended (Successful): there is nothing to cancel any more" in ephemerals_to(fake_slack, "UANA")[1]
    assert patches(fake_buddy) == []


def posted_again(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy, run: FakeExecution) -> dict:
    before = {m["ts"] for m in summaries(fake_slack)}
    bot.command(fake_buddy.html_url("acme", "web", 7, run), response_url=fake_slack.response_url("r2"), channel_id=CHANNEL,
                user_id="UANA")
    wait_until(lambda: [m for m in summaries(fake_slack) if m["ts"] not in before])
    return next(m for m in summaries(fake_slack) if m["ts"] not in before)


def test_someone_not_linked_gets_the_link_button_and_buddy_is_not_asked(bot, tmp_path, fake_slack, fake_buddy):
    run = failed(fake_buddy)
    message = posted(bot, fake_slack, fake_buddy, run)
    fake_buddy.reset_calls()
    click(bot, message, "buddy_retry", "UNOBODY")
    wait_until(lambda: ephemerals_to(fake_slack, "UNOBODY"))
    [note] = [c for c in fake_slack.calls("chat.postEphemeral") if c.params["user"] == "UNOBODY"]
    [link_button] = [e for b in note.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (link_button["action_id"], link_button["value"]) == (LINK_ACTION, "app.buddy.works")
    assert "link your Buddy account on app.buddy.works first" in note.params["text"]
    assert fake_buddy.calls() == []
    wait_until(lambda: audit_rows(tmp_path / "state.db"))
    assert audit_rows(tmp_path / "state.db")[0]["detail"] == "not_linked"


def test_a_personal_token_without_execution_run_is_refused_naming_the_scope(people, tmp_path, fake_slack, fake_buddy):
    fake_buddy.add_user("cy-token-without-run-scope", "Cy Buddy", user_id=203, scopes=("USER_INFO", "EXECUTION_INFO"))
    link(tmp_path / "state.db", ("UCY", "Cy Buddy", "cy-token-without-run-scope", ()))  # no scopes recorded
    bot = make_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        run = failed(fake_buddy)
        message = posted(bot, fake_slack, fake_buddy, run)
        click(bot, message, "buddy_retry", "UCY")  # Buddy's 403 names the scope
        wait_until(lambda: ephemerals_to(fake_slack, "UCY"))
        assert "lacks the scope EXECUTION_RUN" in ephemerals_to(fake_slack, "UCY")[0]
        assert len(patches(fake_buddy)) == 1 and run.status == "FAILED"
        link(tmp_path / "state.db", ("UCY", "Cy Buddy", "cy-token-without-run-scope", ("USER_INFO", "EXECUTION_INFO")))
        click(bot, message, "buddy_retry", "UCY")  # the scopes recorded on the account: Buddy is not asked
        wait_until(lambda: len(ephemerals_to(fake_slack, "UCY")) == 2)
        assert "lacks the scope EXECUTION_RUN" in ephemerals_to(fake_slack, "UCY")[1]
        assert len(patches(fake_buddy)) == 1
        assert "cy-token-without-run-scope" not in bot.log()
    finally:
        bot.stop()


# -- the bot's token for listed people -----------------------------------------------------------


def test_act_with_bot_token_for_a_user_group_acts_with_the_bots_token_and_names_the_person(tmp_path, fake_buddy):
    fake_buddy.token_info["scopes"] = ["WORKSPACE", "EXECUTION_INFO", "EXECUTION_RUN"]
    with FakeSlack(scopes=["chat:write", "commands", "usergroups:read"]) as fake_slack:
        fake_slack.usergroups["SOPS"] = ["UOPS"]
        bot = make_bot(tmp_path, fake_slack, fake_buddy, ACT_WITH_BOT_TOKEN_FOR="SOPS").start()
        try:
            run = failed(fake_buddy)
            message = posted(bot, fake_slack, fake_buddy, run)
            click(bot, message, "buddy_retry", "UOPS")  # not linked, but in the group
            wait_until(lambda: thread_notes(fake_slack, message["ts"]) and audit_rows(tmp_path / "state.db"))
            [patch] = patches(fake_buddy)
            assert patch.headers["Authorization"] == f"Bearer {BOT_BUDDY_TOKEN}"
            assert thread_notes(fake_slack, message["ts"]) == ["<@UOPS> retried this run with the bot's Buddy token."]
            wait_until(lambda: updates_saying(fake_slack, "Retried by <@UOPS> with the bot's Buddy token"))
            [row] = audit_rows(tmp_path / "state.db")
            assert (row["slack_user"], row["buddy_user"], row["result"]) == ("UOPS", "bot token", "done")

            click(bot, message, "buddy_retry", "UOTHER")  # not in the group, not linked
            wait_until(lambda: ephemerals_to(fake_slack, "UOTHER"))
            assert "link your Buddy account" in ephemerals_to(fake_slack, "UOTHER")[0]
            assert len(fake_slack.calls("usergroups.users.list")) == 1  # the members are kept a while
            assert_no_token_shown(bot, fake_slack)
        finally:
            bot.stop()


# -- /buddy audit --------------------------------------------------------------------------------


def test_buddy_audit_lists_the_last_actions_to_the_asker_only_in_workspaces_the_bot_reads(people, tmp_path, fake_slack,
                                                                                          fake_buddy):
    bot = make_bot(tmp_path, fake_slack, fake_buddy, BUDDY_WORKSPACES="acme").start()
    try:
        run = failed(fake_buddy)
        message = posted(bot, fake_slack, fake_buddy, run)
        click(bot, message, "buddy_retry", "UANA")
        wait_until(lambda: audit_rows(tmp_path / "state.db"))
        hidden = dict(audit_rows(tmp_path / "state.db")[0], id=None, unit_id="other-unit", workspace="secret-ws",
                      detail="<!channel> & co")
        with sqlite3.connect(tmp_path / "state.db") as db:
            db.execute(f"INSERT INTO action_audit ({', '.join(hidden)}) VALUES ({', '.join('?' * len(hidden))})",
                       list(hidden.values()))

        status, acknowledgement = bot.command("audit", response_url=fake_slack.response_url("a1"), channel_id=CHANNEL,
                                              user_id="UBO")
        assert status == 200
        shown = json.loads(acknowledgement)
        assert shown.get("response_type", "ephemeral") == "ephemeral"
        text = json.dumps(shown["blocks"])
        assert "<@UANA> as Ana Buddy" in text and "*Retry*" in text and ":white_check_mark: done" in text
        assert fake_buddy.html_url("acme", "web", 7, run) in text
        assert "secret-ws" not in text and "<!channel>" not in text  # another workspace's row is not shown

        link_of_other = "https://app.buddy.works/acme/web/pipelines/pipeline/8"
        _, other = bot.command(f"audit {link_of_other}", response_url=fake_slack.response_url("a2"), channel_id=CHANNEL)
        assert "No actions from Slack on acme/web pipeline 8 yet" in other
        _, elsewhere = bot.command("audit https://app.buddy.works/secret-ws/web/pipelines/pipeline/7",
                                   response_url=fake_slack.response_url("a3"), channel_id=CHANNEL)
        assert "BUDDY_WORKSPACES" in elsewhere
    finally:
        bot.stop()


# -- subscription announcements ------------------------------------------------------------------


def test_retry_on_an_announcement_keeps_the_announcement_and_its_thread_details_offer_it_too(people, tmp_path, fake_slack,
                                                                                             fake_buddy):
    from tests.subscriptions.test_subscriptions_e2e import make_bot as subscribed_bot
    from tests.subscriptions.test_subscriptions_e2e import new_run, subscribe

    bot = subscribed_bot(tmp_path, fake_slack, fake_buddy, BUDDY_WEBHOOK_TOKEN="", SUBSCRIPTION_POLL_SECONDS="0.2", **ENV)
    bot.start()
    try:
        subscribe(bot, fake_slack, CHANNEL, "failures")
        run = new_run(fake_buddy, "FAILED")
        wait_until(lambda: summaries(fake_slack) and [m for m in fake_slack.messages(CHANNEL) if m.get("thread_ts")])
        [announcement] = summaries(fake_slack)
        details = next(m for m in fake_slack.messages(CHANNEL) if m.get("thread_ts") == announcement["ts"] and m.get("blocks"))
        assert "buddy_retry" in buttons(announcement) and "buddy_retry" in buttons(details)
        title = announcement["blocks"][0]

        click(bot, announcement, "buddy_retry", "UANA")
        wait_until(lambda: updates_saying(fake_slack, "Retried by <@UANA>"))
        [update] = updates_saying(fake_slack, "Retried by <@UANA>")
        assert update.params["ts"] == announcement["ts"]
        assert update.params["blocks"][0] == title  # the announcement as it was, its buttons brought up to date
        actions = [e["action_id"] for b in update.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert "buddy_retry" not in actions and "buddy_cancel" in actions and "buddy_claim" in actions
        assert run.status == "INPROGRESS"
        wait_until(lambda: "<@UANA> retried this run as *Ana Buddy* in Buddy." in thread_notes(fake_slack, announcement["ts"]))
        assert len(patches(fake_buddy)) == 1
    finally:
        bot.stop()


def test_a_revoked_token_asks_the_person_to_link_again(people, tmp_path, fake_slack, fake_buddy):
    link(tmp_path / "state.db", ("UDEE", "Dee Buddy", "dee-token-revoked-in-buddy", RUN_SCOPES))  # Buddy answers 401
    bot = make_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        run = failed(fake_buddy)
        message = posted(bot, fake_slack, fake_buddy, run)
        click(bot, message, "buddy_retry", "UDEE")
        wait_until(lambda: ephemerals_to(fake_slack, "UDEE"))
        [note] = [c for c in fake_slack.calls("chat.postEphemeral") if c.params["user"] == "UDEE"]
        assert "has expired or was revoked" in note.params["text"] and "Link your account again" in note.params["text"]
        assert LINK_ACTION in json.dumps(note.params["blocks"])
        assert run.status == "FAILED" and len(patches(fake_buddy)) == 1
        assert "dee-token-revoked-in-buddy" not in bot.log()
    finally:
        bot.stop()


def test_settable_variables_go_as_set_variables_where_buddy_refuses_apply_variables(bot, fake_slack, fake_buddy):
    fake_buddy.settable_needs_set_variables = True
    run = waiting_for_variables(fake_buddy)
    fake_buddy.change(run, status="WAITING_FOR_SETTABLE_VARIABLES")
    run.status = "WAITING_FOR_SETTABLE_VARIABLES"
    message = posted(bot, fake_slack, fake_buddy, run)
    assert bot.click(block_actions_payload(message, "buddy_provide_variables", channel=CHANNEL, user_id="UANA"))[0] == 200
    [update] = fake_slack.wait_for("views.update")
    view = fake_slack.views[update.params["view_id"]]
    values = {"v:VERSION": {"value": {"type": "plain_text_input", "value": "2.0"}}}
    assert bot.click(view_submission_payload(view, values, user_id="UANA"))[0] == 200
    wait_until(lambda: thread_notes(fake_slack, message["ts"]))
    assert [json.loads(p.body)["operation"] for p in patches(fake_buddy)] == ["APPLY_VARIABLES", "SET_VARIABLES"]
    assert run.status == "INPROGRESS" and len(fake_buddy.operations) == 1
