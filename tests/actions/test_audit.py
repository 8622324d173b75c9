"""The audit trail on both engines: one row per action's unit, newest first, by workspace and pipeline."""

from __future__ import annotations

from bot.actions.audit import DONE, REFUSED, AuditTrail
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson

ANA = SlackPerson("T1", "U_ANA")
REF = BuddyRef("app.buddy.works", "acme", "web", 7, "42")
OTHER = BuddyRef("app.buddy.works", "acme", "web", 8, "3")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


async def test_rows_are_kept_once_per_unit_newest_first_per_workspace_and_pipeline(state):
    trail = AuditTrail(state, clock=Clock())
    common = dict(person=ANA, buddy_user="ana", run_url="https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/x")
    await trail.record(unit_id="u1", action="approve", ref=REF, result=DONE, **common)
    await trail.record(unit_id="u1", action="approve", ref=REF, result=DONE, **common)  # the unit taken over
    await trail.record(unit_id="u2", action="retry", ref=OTHER, result=REFUSED, detail="403", **common)
    await trail.record(unit_id="u3", action="cancel", ref=REF, result=DONE, person=SlackPerson("T2", "U_BO"),
                       buddy_user="bo", run_url="x")
    rows = await trail.recent("T1")
    assert [(r.action, r.result) for r in rows] == [("retry", REFUSED), ("approve", DONE)]
    assert [r.action for r in await trail.recent("T1", pipeline=("app.buddy.works", "acme", "web", 7))] == ["approve"]
    assert [r.buddy_user for r in await trail.recent("T2")] == ["bo"]


async def test_rows_can_be_kept_to_the_workspaces_the_bot_reads(state):
    trail = AuditTrail(state, clock=Clock())
    common = dict(person=ANA, buddy_user="ana", action="retry", result=DONE, run_url="x")
    await trail.record(unit_id="u1", ref=REF, **common)
    await trail.record(unit_id="u2", ref=BuddyRef("app.buddy.works", "Other-WS", "web", 7, "1"), **common)
    assert [r.workspace for r in await trail.recent("T1", workspaces=("ACME",))] == ["acme"]
    assert len(await trail.recent("T1")) == 2
