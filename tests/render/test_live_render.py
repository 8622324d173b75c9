"""What the live features need from the renderers: the buttons' values, the status of a whole run
between two actions, and the More log value format."""

from __future__ import annotations

import dataclasses

from bot.buddy.refs import find_references
from bot.render import render_summary
from bot.render.morelog import log_block_title, more_log_end, more_log_value, render_log_block
from tests.render.helpers import EXECUTION_URL, NOW, SECRET_KEY_REGEX, SEED_REF, action_execution, seed_execution, seed_report

ACTION_URL = f"{EXECUTION_URL}/?actionExecutionId={SEED_REF.action_execution_id}"


def buttons(message: dict) -> dict[str, str | None]:
    [row] = [block for block in message["blocks"] if block["type"] == "actions"]
    return {element["action_id"]: element.get("value") for element in row["elements"]}


def test_more_log_is_offered_only_when_the_thread_does_not_already_hold_the_whole_log() -> None:
    whole = seed_report(log_tail=["Done"], log_total_lines=1)
    assert "buddy_more_log" not in buttons(render_summary(whole, secret_key_regex=SECRET_KEY_REGEX, interactive=True))
    longer = seed_report(log_tail=["Done"], log_total_lines=300)
    values = buttons(render_summary(longer, secret_key_regex=SECRET_KEY_REGEX, interactive=True))
    assert values["buddy_more_log"] == ACTION_URL and values["buddy_refresh"] == ACTION_URL


def test_a_pipeline_link_is_refreshed_as_the_run_it_showed() -> None:
    pipeline_ref = dataclasses.replace(SEED_REF, execution_id=None, action_execution_id=None)
    report = seed_report(ref=pipeline_ref, log_total_lines=300)
    values = buttons(render_summary(report, secret_key_regex=SECRET_KEY_REGEX, interactive=True))
    assert values["buddy_refresh"] == EXECUTION_URL  # not the pipeline: a newer run must not replace this one
    assert values["buddy_more_log"] == ACTION_URL
    # What the buttons carry reads back as the same run.
    [ref] = find_references(values["buddy_refresh"]).refs
    assert ref == dataclasses.replace(SEED_REF, action_execution_id=None)


def test_a_whole_run_between_two_actions_is_shown_as_still_going() -> None:
    done = action_execution(status="SUCCESSFUL", action={"name": "Build", "type": "BUILD"})
    queued = action_execution(status="ENQUEUED", start_date=None, finish_date=None, action={"name": "Deploy", "type": "SSH"})
    running = seed_execution(status="INPROGRESS", finish_date=None)
    execution_ref = dataclasses.replace(SEED_REF, action_execution_id=None)
    report = seed_report(ref=execution_ref, action=done, execution=running, actions=[done, queued])
    message = render_summary(report, secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    assert message["blocks"][0]["text"]["text"].startswith(":arrows_counterclockwise: In progress")
    assert message["blocks"][1]["text"]["text"].startswith("*Actions (2)*")  # the list comes first
    assert not report.is_finished
    # A link to that one action still shows the action's own status.
    alone = render_summary(dataclasses.replace(report, ref=SEED_REF), secret_key_regex=SECRET_KEY_REGEX, now=NOW)
    assert alone["blocks"][0]["text"]["text"].startswith(":white_check_mark: Successful")


def test_more_log_values_carry_where_the_next_block_ends() -> None:
    assert more_log_value(ACTION_URL) == ACTION_URL and more_log_end(ACTION_URL) is None
    assert more_log_end(more_log_value(ACTION_URL, 130)) == 130
    assert more_log_end(f"-5 {ACTION_URL}") is None
    assert more_log_end(f"12345678901 {ACTION_URL}") is None  # longer than any log index we write
    [ref] = find_references(more_log_value(ACTION_URL, 130)).refs
    assert ref == SEED_REF


def test_an_earlier_block_is_cleaned_and_kept_under_the_snippet_limit() -> None:
    text, left_out = render_log_block(["\x1b[31mred\x1b[0m", "plain"])
    assert (text, left_out) == ("red\nplain", 0)
    huge = ["x" * 1500] * 1000  # 1.5 MB: only the last lines that fit are kept
    text, left_out = render_log_block(huge)
    assert left_out > 0 and len(text.encode()) < 1_000_000 and text.count("\n") == 999 - left_out
    assert log_block_title(seed_report(), 130, 180, 200) == "Log lines 131–180 of 200 · Pass arguments"
