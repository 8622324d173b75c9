"""The Home tab's core on both engines: waiting runs recorded once per change and kept per Slack
installation, shown only where the person's linked token reads them (ten, then "and N more"), recent
runs pruned, the failing pipelines and subscriptions of the person's channels only, and an
installation's rows gone with it."""

from __future__ import annotations

import asyncio

from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.actions.audit import DONE, AuditTrail
from bot.answers import Responder
from bot.buddy.client import BuddyClient
from bot.buddy.models import Execution
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.home.records import RECENT_PER_PERSON, RecentRuns, Viewers, WaitingRuns, forget_team
from bot.home.tab import WAITING_SHOWN, HomeTab
from bot.identity.accounts import PERSONAL, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.credentials import Identity
from bot.identity.vault import Vault
from bot.lookup import Lookup
from bot.report import RunReport
from bot.state.tables import home_recent_runs
from bot.subscriptions.store import Mode, PipelineKey, SubscriptionStore, Target
from tests.fakes.buddy import FakeAction, FakeBuddy

ANA = SlackPerson("T1", "UANA")
ANA_TOKEN = "ana-token-0123456789"
HOST = "app.buddy.works"


def report(pipeline_id: int, execution_id: int, status: str, *, project: str = "web") -> RunReport:
    url = f"https://{HOST}/acme/{project}/pipelines/pipeline/{pipeline_id}/execution/{execution_id}"
    execution = Execution.model_validate(
        {"id": execution_id, "status": status, "html_url": url, "pipeline": {"name": "Deploy"}, "branch": {"name": "main"}}
    )
    return RunReport(BuddyRef(HOST, "acme", project, pipeline_id, str(execution_id)), None, execution)


async def test_a_waiting_run_is_written_once_per_change_and_kept_per_installation(state):
    waiting = WaitingRuns(state)
    told: list[str] = []

    async def listener(team: str) -> None:
        told.append(team)

    waiting.listeners.append(listener)
    await waiting.seen("E/T1", report(7, 1, "WAITING_FOR_APPLY"))
    await waiting.seen("E/T1", report(7, 1, "WAITING_FOR_APPLY"))  # the next poll: nothing changed
    await waiting.seen(None, report(7, 2, "INPROGRESS"))  # never waited: nothing to write
    assert told == ["E/T1"]
    rows, total = await waiting.of_team("E/T1", limit=10)
    assert total == 1 and rows[0].execution_id == 1 and rows[0].title == "Deploy #1 · main"
    assert (await waiting.of_team("", limit=10)) == ([], 0)  # another installation sees none of it
    await waiting.seen("E/T1", report(7, 1, "SUCCESSFUL"))
    assert told == ["E/T1", "E/T1"]
    assert (await waiting.of_team("E/T1", limit=10)) == ([], 0)


async def test_a_subscribed_runs_wait_is_recorded_for_each_installation_that_follows_it(state):
    from bot.subscriptions.events import RunEvent

    waiting = WaitingRuns(state)
    run = report(7, 3, "WAITING_FOR_APPLY")
    assert run.execution is not None
    event = RunEvent(PipelineKey(HOST, "acme", "web", 7), run.web_url, run.execution, "poll")
    await waiting.seen_event(["A/T1", "B/T2", None], event)
    for team in ("A/T1", "B/T2", ""):
        assert (await waiting.of_team(team, limit=10))[1] == 1


async def _tab(state, fake_buddy: FakeBuddy) -> tuple[HomeTab, Responder, BuddyClient]:
    settings = Settings(_env_file=None, buddy_token="bot-token", buddy_api_url=fake_buddy.url, buddy_retry_backoff_s=0.01)
    client = BuddyClient(settings)
    accounts = LinkedAccounts(state, Vault(Fernet.generate_key().decode()))
    await accounts.put(LinkedAccount(ANA, HOST, 201, "Ana", PERSONAL, ANA_TOKEN))
    return HomeTab(state, Identity(accounts)), Responder(Lookup(client, settings), settings), client


async def test_only_the_waiting_runs_the_persons_token_reads_are_shown_ten_at_most(state, fake_buddy: FakeBuddy):
    fake_buddy.add_user(ANA_TOKEN, "Ana", user_id=201)
    gate = FakeAction(name="Approve", type="WAIT_FOR_APPLY", status="WAITING_FOR_APPLY", finish=None, log=[])
    readable = [fake_buddy.add_execution(pipeline_id=7, actions=[gate], status="WAITING_FOR_APPLY", finish=None) for _ in range(12)]
    hidden = fake_buddy.add_execution(pipeline_id=8, actions=[gate], status="WAITING_FOR_APPLY", finish=None)
    fake_buddy.readers[("acme", "web", 8)] = {"bot-token"}  # Ana's token gets 403 there
    waiting = WaitingRuns(state)
    for run in readable:
        await waiting.seen("", report(7, run.id, "WAITING_FOR_APPLY"))
    await waiting.seen("", report(8, hidden.id, "WAITING_FOR_APPLY"))
    tab, responder, client = await _tab(state, fake_buddy)
    try:
        tab.waiting = waiting
        data = await tab.gather("", ANA, responder, channels=[])
        assert len(data.waiting) == WAITING_SHOWN and data.waiting_more == 2
        assert all(run.pipeline_id == 7 for run in data.waiting)
        reads = len(fake_buddy.calls("/executions/"))
        assert reads == 13  # one GET per run, with her token
        await tab.gather("", ANA, responder, channels=[])
        assert len(fake_buddy.calls("/executions/")) == reads  # kept a while per credential: not read again
        unlinked = await tab.gather("", SlackPerson("T1", "UBO"), responder, channels=[])
        assert unlinked.waiting == [] and unlinked.linked_hosts == []
    finally:
        await client.aclose()


async def test_a_run_found_no_longer_waiting_is_dropped(state, fake_buddy: FakeBuddy):
    fake_buddy.add_user(ANA_TOKEN, "Ana", user_id=201)
    run = fake_buddy.add_execution(pipeline_id=7, status="SUCCESSFUL")
    waiting = WaitingRuns(state)
    await waiting.seen("", report(7, run.id, "WAITING_FOR_APPLY"))  # approved in Buddy since, unseen
    tab, responder, client = await _tab(state, fake_buddy)
    try:
        tab.waiting = waiting
        assert (await tab.gather("", ANA, responder, channels=[])).waiting == []
        assert (await waiting.of_team("", limit=10)) == ([], 0)
    finally:
        await client.aclose()


async def test_recent_runs_are_those_asked_about_and_started_the_last_ones_kept(state, fake_buddy: FakeBuddy):
    now = [1000.0]
    recent = RecentRuns(state, clock=lambda: now[0])
    for number in range(1, RECENT_PER_PERSON + 4):
        now[0] += 1
        await recent.asked("", ANA, report(7, number, "FAILED"))
    await recent.asked("", SlackPerson("T1", "UBO"), report(7, 99, "FAILED"))
    kept = await recent.of("", ANA.user)
    assert len(kept) == RECENT_PER_PERSON and kept[0].run_url.endswith("/execution/13")
    # A burst asked together is one batch: the same run twice in it, and the oldest pruned beyond the limit.
    now[0] += 1
    await asyncio.gather(*(recent.asked("", ANA, report(7, number, "SUCCESSFUL")) for number in (20, 21, 21, 22)))
    async with state.begin() as db:
        rows = (await db.execute(select(home_recent_runs).where(home_recent_runs.c.slack_user == ANA.user))).all()
    assert len(rows) == RECENT_PER_PERSON and {row.run_url.rsplit("/", 1)[1] for row in rows} >= {"20", "21", "22", "13"}
    assert {row.status for row in rows if row.run_url.endswith(("/20", "/21", "/22"))} == {"SUCCESSFUL"}
    assert len(await recent.of("", "UBO")) == 1  # another person's runs are theirs
    await AuditTrail(state, clock=lambda: 5000.0).record(
        unit_id="u" * 32, person=ANA, buddy_user="Ana", action="run", ref=BuddyRef(HOST, "acme", "web", 9),
        run_url=f"https://{HOST}/acme/web/pipelines/pipeline/9/execution/1", result=DONE,
    )
    tab, responder, client = await _tab(state, fake_buddy)
    try:
        data = await tab.gather("", ANA, responder, channels=[])
        assert data.recent[0].how == "run" and data.recent[0].run_url.endswith("/pipeline/9/execution/1")
        assert all("/execution/99" not in run.run_url for run in data.recent)
    finally:
        await client.aclose()


async def test_failing_pipelines_and_subscriptions_are_those_of_the_persons_channels(state, fake_buddy: FakeBuddy):
    store = SubscriptionStore(state)
    await store.subscribe("CMINE", Target(HOST, "acme", "web", 7), branch=None, mode=Mode.FAILURES, user="UANA", team="A/T1")
    await store.subscribe("COTHER", Target(HOST, "acme", "api", 5), branch=None, mode=Mode.ALL, user="UBO", team="A/T1")
    await store.subscribe("CMINE", Target(HOST, "acme", "web", 3), branch=None, mode=Mode.ALL, user="UX", team="B/T2")
    for pipeline, project in ((7, "web"), (5, "api"), (3, "web")):
        await store.record_final(PipelineKey(HOST, "acme", project, pipeline), "main", run_url=f"https://x/{pipeline}",
                                 run_order=1, status="FAILED")
    tab, responder, client = await _tab(state, fake_buddy)
    try:
        data = await tab.gather("A/T1", ANA, responder, channels=["CMINE"])
        assert [s.target.pipeline_id for s in data.subscriptions] == [7]  # not COTHER's, not the other installation's
        assert [(f.project, f.pipeline_id) for f in data.failing] == [("web", 7)]
        unknown = await tab.gather("A/T1", ANA, responder, channels=None)
        assert not unknown.channels_known and unknown.subscriptions == []
    finally:
        await client.aclose()


async def test_viewers_are_bounded_and_an_installations_rows_go_with_it(state):
    now = [0.0]
    viewers = Viewers(state, clock=lambda: now[0])
    for number in range(3):
        now[0] += 1
        await viewers.opened("A/T1", SlackPerson("T1", f"U{number}"))
    await viewers.opened("B/T2", SlackPerson("T2", "UB"))
    assert [p.user for p in await viewers.of("A/T1")] == ["U2", "U1", "U0"]
    await WaitingRuns(state).seen("A/T1", report(7, 1, "WAITING_FOR_APPLY"))
    await RecentRuns(state).asked("A/T1", ANA, report(7, 1, "WAITING_FOR_APPLY"))
    assert await forget_team(state, "A/T1") == 5
    assert await viewers.of("A/T1") == [] and [p.user for p in await viewers.of("B/T2")] == ["UB"]
