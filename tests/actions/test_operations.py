"""The operation table: which buttons a run offers by its status, what is sent, when a run counts as
moved on (a take-over then sends nothing), and why a run in another state is refused; the buttons
and forms as Block Kit allows them."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from bot.actions.operations import (
    APPROVE,
    CANCEL,
    ENDED,
    NOT_WAITING,
    PROVIDE_VARIABLES,
    RETRY,
    STILL_GOING,
    SUCCEEDED,
    Snapshot,
    body,
    moved,
    offered,
    refusal,
    run_status,
)
from bot.actions.variables import WantedVariable, wanted_variables
from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef
from bot.render.actions import operation_buttons, submitted_variables, variables_view, with_operations
from bot.render.limits import block_kit_violations
from bot.report import RunReport

RUN = "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/abc123"
SECRETS = re.compile("TOKEN|SECRET")


@pytest.mark.parametrize("status, expected", [
    ("WAITING_FOR_APPLY", ["Approve"]),
    ("WAITING_FOR_VARIABLES", ["Provide variables"]),
    ("WAITING_FOR_SETTABLE_VARIABLES", ["Provide variables"]),
    ("FAILED", ["Retry"]),
    ("TERMINATED", ["Retry"]),
    ("ENQUEUED", ["Cancel"]),
    ("INITIAL", ["Cancel"]),
    ("INPROGRESS", ["Cancel"]),
    ("WAITING_FOR_VT_SESSION", ["Cancel"]),
    ("inprogress", ["Cancel"]),
    ("TERMINATING", []),
    ("SUCCESSFUL", []),
    ("SKIPPED", []),
    ("NOT_EXECUTED", []),
    ("SOMETHING_BUDDY_ADDS_NEXT_YEAR", []),
    ("", []),
])
def test_each_status_offers_its_buttons(status, expected):
    assert [operation.label for operation in offered(status)] == expected
    shown = operation_buttons(status, RUN)
    assert [button["text"]["text"] for button in shown] == expected
    assert all(button["value"] == RUN for button in shown)
    assert block_kit_violations({"text": "x", "blocks": [{"type": "actions", "elements": shown}]} if shown else {"text": "x", "blocks": []}) == []


def test_cancel_asks_first_and_a_link_too_long_for_a_button_gets_none():
    [cancel] = operation_buttons("INPROGRESS", RUN)
    assert cancel["style"] == "danger" and set(cancel["confirm"]) >= {"title", "text", "confirm", "deny"}
    assert len(cancel["confirm"]["text"]["text"]) <= 300 and len(cancel["confirm"]["title"]["text"]) <= 100
    assert operation_buttons("INPROGRESS", RUN + "x" * 2000) == []
    assert operation_buttons("INPROGRESS", "javascript:alert(1)") == []


def test_approve_carries_the_waiting_actions_link_and_the_others_the_runs():
    waiting = RUN + "/?actionExecutionId=ae1"
    [approve] = operation_buttons("WAITING_FOR_APPLY", RUN, waiting_url=waiting)
    [retry] = operation_buttons("FAILED", RUN, waiting_url=waiting)
    assert (approve["value"], retry["value"]) == (waiting, RUN)


def execution(status: str, *actions: tuple[str, str], finish: datetime | None = None) -> Execution:
    items = [{"action_execution_id": ae, "status": action_status, "action": {"name": f"Action {ae}"}} for ae, action_status in actions]
    return Execution.model_validate({"id": 42, "status": status, "finish_date": finish, "action_executions": items})


def snapshot(status: str, *actions: tuple[str, str], finish: datetime | None = None) -> Snapshot:
    report = RunReport(BuddyRef("app.buddy.works", "acme", "web", 7, "42"), None, execution(status, *actions, finish=finish))
    found = Snapshot.of(report)
    assert found is not None
    return Snapshot.from_json(found.as_json())  # as a take-over reads it back


def test_an_action_waiting_makes_the_whole_run_wait():
    assert run_status(execution("INPROGRESS", ("a1", "SUCCESSFUL"), ("a2", "WAITING_FOR_APPLY"))) == "WAITING_FOR_APPLY"
    assert run_status(execution("INPROGRESS", ("a1", "WAITING_FOR_VARIABLES"))) == "WAITING_FOR_VARIABLES"
    assert run_status(execution("failed")) == "FAILED"
    assert run_status(None, "INPROGRESS") == "INPROGRESS"
    assert Snapshot.of(RunReport(BuddyRef("h", "w", "p", 1), None, None)) is None  # nothing to act on


def test_approve_action_id_is_sent_only_when_several_actions_wait():
    one = snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY"))
    two = snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY"), ("a2", "WAITING_FOR_APPLY"))
    assert body(APPROVE, one, clicked_action="a1", variables=()) == {"operation": "APPLY"}
    assert body(APPROVE, two, clicked_action="a2", variables=()) == {"operation": "APPLY", "approve_action_id": "a2"}
    assert body(APPROVE, two, clicked_action=None, variables=()) == {"operation": "APPLY", "approve_action_id": "a1"}
    variables = [{"key": "V", "value": "1"}]
    sent = body(PROVIDE_VARIABLES, snapshot("WAITING_FOR_VARIABLES", ("a1", "WAITING_FOR_VARIABLES")), clicked_action=None,
                variables=variables)
    assert sent == {"operation": "APPLY_VARIABLES", "variables": variables}
    assert body(RETRY, snapshot("FAILED"), clicked_action=None, variables=()) == {"operation": "RETRY"}
    assert body(CANCEL, snapshot("INPROGRESS"), clicked_action="a1", variables=()) == {"operation": "CANCEL"}


FIRST_END = datetime(2025, 5, 1, tzinfo=timezone.utc)
SECOND_END = datetime(2025, 5, 2, tzinfo=timezone.utc)


@pytest.mark.parametrize("operation, before, now, landed", [
    (APPROVE, snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY")), snapshot("INPROGRESS", ("a1", "SUCCESSFUL")), True),
    (APPROVE, snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY")), snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY")), False),
    # approved, then the run waits again at a later gate: the first approval landed
    (APPROVE, snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY")),
     snapshot("WAITING_FOR_APPLY", ("a1", "SUCCESSFUL"), ("a2", "WAITING_FOR_APPLY")), True),
    (APPROVE, snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY")), snapshot("TERMINATED", ("a1", "TERMINATED")), False),
    (PROVIDE_VARIABLES, snapshot("WAITING_FOR_VARIABLES", ("a1", "WAITING_FOR_VARIABLES")),
     snapshot("INPROGRESS", ("a1", "SUCCESSFUL")), True),
    (RETRY, snapshot("FAILED", finish=FIRST_END), snapshot("INPROGRESS"), True),
    (RETRY, snapshot("FAILED", finish=FIRST_END), snapshot("FAILED", finish=SECOND_END), True),  # retried, failed again
    (RETRY, snapshot("FAILED", finish=FIRST_END), snapshot("FAILED", finish=FIRST_END), False),
    (CANCEL, snapshot("INPROGRESS"), snapshot("TERMINATING"), True),
    (CANCEL, snapshot("INPROGRESS"), snapshot("TERMINATED"), True),
    (CANCEL, snapshot("INPROGRESS"), snapshot("SUCCESSFUL"), False),  # ended by itself: the write is sent, Buddy says no
    (CANCEL, snapshot("INPROGRESS"), snapshot("INPROGRESS"), False),
])
def test_a_take_over_knows_whether_the_write_landed(operation, before, now, landed):
    assert moved(operation, before, now, clicked_action=None) is landed


def test_two_waiting_gates_a_take_over_looks_at_the_one_it_approved():
    before = snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY"), ("a2", "WAITING_FOR_APPLY"))
    assert moved(APPROVE, before, snapshot("WAITING_FOR_APPLY", ("a1", "WAITING_FOR_APPLY"), ("a2", "SUCCESSFUL")),
                 clicked_action="a2")
    assert not moved(APPROVE, before, snapshot("WAITING_FOR_APPLY", ("a1", "SUCCESSFUL"), ("a2", "WAITING_FOR_APPLY")),
                     clicked_action="a2")


@pytest.mark.parametrize("operation, status, reason", [
    (APPROVE, "WAITING_FOR_APPLY", None),
    (APPROVE, "INPROGRESS", NOT_WAITING),
    (APPROVE, "SUCCESSFUL", ENDED),
    (APPROVE, "TERMINATING", ENDED),
    (PROVIDE_VARIABLES, "WAITING_FOR_SETTABLE_VARIABLES", None),
    (PROVIDE_VARIABLES, "WAITING_FOR_APPLY", NOT_WAITING),
    (RETRY, "FAILED", None),
    (RETRY, "INPROGRESS", STILL_GOING),
    (RETRY, "SUCCESSFUL", SUCCEEDED),
    (CANCEL, "INPROGRESS", None),
    (CANCEL, "WAITING_FOR_APPLY", None),  # went on to wait for someone: still cancellable
    (CANCEL, "FAILED", ENDED),
    (CANCEL, "TERMINATING", ENDED),
])
def test_a_run_in_another_state_is_refused_with_the_reason(operation, status, reason):
    assert refusal(operation, snapshot(status)) == reason


def test_the_form_shows_current_values_leaves_secrets_blank_and_reads_back_what_was_typed():
    action = ActionExecution.model_validate({
        "status": "WAITING_FOR_VARIABLES",
        "action": {"name": "Pass arguments", "variables": [
            {"key": "REGION", "defaults": "eu", "description": "Where"},
            {"key": "PASSWORD_OF_DB", "defaults": "declared-secret", "encrypted": True},
        ]},
        "passed_variables": [{"key": "REGION", "value": "us"}, {"key": "API_TOKEN", "value": "looks-secret"},
                             {"key": "K" * 300, "value": "too long a key"}],
    })
    report = RunReport(BuddyRef("app.buddy.works", "acme", "web", 7, "42"), action, None)
    variables, left_out = wanted_variables(report, SECRETS)
    assert variables == [
        WantedVariable("REGION", "us", False, "Where"),
        WantedVariable("PASSWORD_OF_DB", "", True, ""),
        WantedVariable("API_TOKEN", "", True, ""),
    ]
    assert left_out == 1
    view = variables_view(variables, run_url=RUN, title="Pass arguments", metadata={"click": "u1", "run": RUN}, left_out=1)
    assert len(view["blocks"]) <= 100 and len(view["title"]["text"]) <= 24 and len(view["private_metadata"]) <= 3000
    text = str(view)
    assert "declared-secret" not in text and "looks-secret" not in text
    values = {"v:REGION": {"value": {"value": "ap"}}, "s:PASSWORD_OF_DB": {"value": {"value": None}},
              "s:API_TOKEN": {"value": {"value": "new-token"}}}
    assert submitted_variables(values) == (("REGION", "ap"), ("API_TOKEN", "new-token"))


def test_a_message_brought_up_to_date_keeps_its_other_buttons():
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "run"}},
        {"type": "actions", "block_id": "buddy_run_actions", "elements": [
            {"type": "button", "action_id": "buddy_open", "text": {"type": "plain_text", "text": "Open"}, "url": RUN},
            *operation_buttons("FAILED", RUN),
            {"type": "button", "action_id": "buddy_claim", "text": {"type": "plain_text", "text": "I'm on it"}, "value": RUN},
        ]},
    ]
    [_, row] = with_operations(blocks, "INPROGRESS", RUN)
    assert [element["action_id"] for element in row["elements"]] == ["buddy_open", "buddy_claim", "buddy_cancel"]


def test_a_full_message_shown_after_an_action_keeps_its_head_its_buttons_and_earlier_lines_within_50_blocks():
    from bot.actions.outcome import ActRequest, Outcome
    from bot.identity.accounts import SlackPerson
    from bot.render.actions import shown_after

    ref = BuddyRef("app.buddy.works", "acme", "web", 7, "abc123")
    retried = Outcome(ActRequest(RETRY, ref, SlackPerson("T1", "UANA")), "done", "done", status="INPROGRESS", at=1.7e9)
    message = {"text": "run", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Failed"}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": f"line {n}"}} for n in range(47)),
        {"type": "context", "block_id": "buddy_acted_approve", "elements": [{"type": "mrkdwn", "text": "Approved by <@U_BO>"}]},
        {"type": "actions", "block_id": "buddy_run_actions", "elements": operation_buttons("FAILED", RUN)},
    ]}
    shown = shown_after(message, retried)
    blocks = shown["blocks"]
    assert len(blocks) == 50 and blocks[0]["type"] == "header" and block_kit_violations(shown) == []
    assert [b.get("block_id") for b in blocks[-3:]] == ["buddy_acted_approve", "buddy_acted_retry", "buddy_run_actions"]
    assert "Retried by <@UANA> at <!date^1700000000^" in str(blocks[-2])
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["buddy_cancel"]
    again = shown_after(shown, retried)  # the same action shown again (a take-over): one line for it
    assert [b.get("block_id") for b in again["blocks"]].count("buddy_acted_retry") == 1
