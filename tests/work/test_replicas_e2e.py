"""Several replicas of the bot on one PostgreSQL, behind a round-robin load balancer: every request
is answered once whichever replica it (or its retry) reaches, and the work of a replica that dies
is finished by the others."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import TEMPLATE_DATABASE
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.proxy import RoundRobinProxy
from tests.fakes.signing import event_callback_body, post_signed, slash_command_body
from tests.fakes.slack import BOT_USER_ID, FakeSlack
from tests.fakes.waiting import wait_until

REQUESTS = 200
FORM = "application/x-www-form-urlencoded"


def replicas(
    count: int, tmp_path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, database_url: str, *, lease_s: float = 1
) -> list[BotProcess]:
    env = {"DATABASE_URL": database_url, "WORK_LEASE_S": str(lease_s), "SUBSCRIPTION_POLL_SECONDS": "0"}
    bots = []
    for n in range(count):
        workdir = tmp_path / f"replica-{n}"
        workdir.mkdir()
        bots.append(BotProcess(workdir, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=env))
    for bot in bots:
        bot.start()
    return bots



@pytest.mark.parametrize("count", [2, 3])
def test_mixed_requests_with_retries_on_other_replicas_are_each_answered_once(count, tmp_path, fake_slack, fake_buddy, postgres):
    action = FakeAction(name="Build", status="SUCCESSFUL", log=["compiling", "ok"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    # No replica dies here: what is tested is redeliveries, so a lease long enough that a replica held up by
    # the burst (beside the rest of the suite) keeps its units (docs/faults.md: an effect slower than half a lease).
    bots = replicas(count, tmp_path, fake_slack, fake_buddy, postgres.new_database(template=TEMPLATE_DATABASE), lease_s=5)
    proxy = RoundRobinProxy([bot.url for bot in bots]).start()
    events_url = f"{proxy.url}/slack/events"
    deliveries: list[tuple[str, str, dict[str, str] | None]] = []
    for n in range(REQUESTS // 2):  # each sent twice: the second time is Slack's retry, or a replay
        body = slash_command_body(url, channel_id=f"CCMD{n}", response_url=fake_slack.response_url(f"c{n}"))
        deliveries += [(body, FORM, None)] * 2
    for n in range(REQUESTS // 2):
        event = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER_ID}> <{url}>", "ts": f"1700000000.{n:06d}",
                 "channel": f"CMEN{n}", "event_ts": f"1700000000.{n:06d}"}
        body = event_callback_body(event, event_id=f"Ev{n:08d}")
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        deliveries += [(body, "application/json", None), (body, "application/json", retry)]
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda d: post_signed(events_url, d[0], SIGNING_SECRET, content_type=d[1],
                                                           extra_headers=d[2])[0], deliveries))
        assert statuses == [200] * len(deliveries)
        assert len(set(proxy.sent_to)) == count  # every replica took its share

        def answered() -> dict[str, int]:
            seen: dict[str, int] = {}
            for message in fake_slack.messages():
                if message["channel"].startswith(("CCMD", "CMEN")) and message.get("blocks"):
                    seen[message["channel"]] = seen.get(message["channel"], 0) + 1
            return seen

        wait_until(lambda: len(answered()) == REQUESTS)
        for bot in bots:
            bot.stop()  # an orderly stop: nothing left half done, nothing more posted
        assert answered() == {**{f"CCMD{n}": 1 for n in range(REQUESTS // 2)}, **{f"CMEN{n}": 1 for n in range(REQUESTS // 2)}}
        for bot in bots:
            assert "Traceback" not in bot.log()
    finally:
        proxy.stop()
        for bot in bots:
            bot.stop()


def replica_of(bots: list[BotProcess], owner: str) -> BotProcess:
    [found] = [bot for bot in bots if f"this replica is {owner}" in bot.log()]
    return found


def test_a_replica_killed_mid_watch_has_its_watch_finished_by_another(tmp_path, fake_slack, fake_buddy, postgres):
    action = FakeAction(name="Deploy", status="INPROGRESS", finish=None, log=[])
    run = fake_buddy.add_execution(actions=[action], status="INPROGRESS", finish=None)
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    database = postgres.new_database(template=TEMPLATE_DATABASE)
    env_fast = {"WATCH_POLL_SECONDS": "0.2", "WATCH_BACKOFF_MAX_SECONDS": "0.3"}
    bots = replicas(2, tmp_path, fake_slack, fake_buddy, database)
    for bot in bots:
        bot.stop()
        bot.env.update(env_fast)
        bot.start()
    name = database.rsplit("/", 1)[-1]
    try:
        status, _ = bots[0].command(url, response_url=fake_slack.response_url())
        assert status == 200
        wait_until(lambda: postgres.psql("SELECT count(*) FROM watches", name).strip() == "1")
        # The next poll of the watch hangs in Buddy; the replica holding its lease is killed mid-poll.
        calls_before = len(fake_buddy.calls("/action_executions/"))
        fake_buddy.fault("/action_executions/", status=200, delay=3600, times=1)
        wait_until(lambda: len(fake_buddy.calls("/action_executions/")) > calls_before)
        time.sleep(1.5)  # past one lease: the hung poll still holds the watch (its lease is renewed)
        owner = postgres.psql("SELECT owner FROM watches", name).strip()
        assert owner, "the watch being polled is leased"
        victim = replica_of(bots, owner)
        victim.kill()
        survivor = next(bot for bot in bots if bot is not victim)
        fake_buddy.clear_faults()
        fake_buddy.change(run, status="SUCCESSFUL", log=["deployed"])
        wait_until(lambda: postgres.psql("SELECT count(*) FROM watches", name).strip() == "0", timeout=30)
        [summary] = [m for m in fake_slack.messages("C123") if m.get("blocks") and m.get("thread_ts") is None]
        assert "Successful" in str(summary["blocks"])
        wait_until(lambda: [m for m in fake_slack.messages("C123") if m.get("files")])
        assert len([m for m in fake_slack.messages("C123") if m.get("files")]) == 1
        assert "Traceback" not in survivor.log()
    finally:
        for bot in bots:
            bot.stop()


def test_a_replica_killed_mid_poll_leaves_the_polling_to_the_others(tmp_path, fake_slack, fake_buddy, postgres):
    from tests.subscriptions.test_subscriptions_e2e import new_run, subscribe

    fake_buddy.pipelines.setdefault(("acme", "web", 7), [])
    database = postgres.new_database(template=TEMPLATE_DATABASE)
    name = database.rsplit("/", 1)[-1]
    bots = replicas(2, tmp_path, fake_slack, fake_buddy, database)
    for bot in bots:
        bot.stop()
        bot.env.update({"SUBSCRIPTION_POLL_SECONDS": "0.5", "SLACK_CHANNEL_PACING_S": "0.01"})
        bot.start()
    try:
        subscribe(bots[0], fake_slack, "CPOLL", "failures")
        polls_before = len(fake_buddy.calls("/pipelines/7/executions"))
        fake_buddy.fault("/pipelines/7/executions", status=200, delay=3600, times=1)
        wait_until(lambda: len(fake_buddy.calls("/pipelines/7/executions")) > polls_before)
        owner = postgres.psql("SELECT owner FROM schedules WHERE key LIKE 'poll:%'", name).strip()
        replica_of(bots, owner).kill()
        new_run(fake_buddy, "FAILED")
        wait_until(lambda: [m for m in fake_slack.messages("CPOLL") if m.get("blocks") and m.get("thread_ts") is None])
        for bot in bots:
            bot.stop()
        assert len([m for m in fake_slack.messages("CPOLL") if m.get("blocks") and m.get("thread_ts") is None]) == 1
    finally:
        for bot in bots:
            bot.stop()


@pytest.mark.parametrize("first_replica", ["stalls-before-acknowledging", "dies-after-acknowledging"])
def test_socket_mode_replicas_answer_an_envelope_once_whichever_connection_gets_it(
    first_replica, tmp_path, fake_buddy, postgres
):
    import json
    import os
    import signal
    from urllib.parse import parse_qsl

    from tests.fakes.socket_mode import FakeSlackSocketMode

    action = FakeAction(name="Socket deploy", status="SUCCESSFUL", log=["one", "two"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    database = postgres.new_database(template=TEMPLATE_DATABASE)
    with FakeSlackSocketMode() as slack:
        env = {"DATABASE_URL": database, "WORK_LEASE_S": "1", "SLACK_APP_TOKEN": "xapp-1-test", "SLACK_SIGNING_SECRET": ""}
        bots = []
        for n in range(2):
            workdir = tmp_path / f"socket-{n}"
            workdir.mkdir()
            bot = BotProcess(workdir, slack_url=slack.url, buddy_url=fake_buddy.url, env=env)
            bot.start(ready=lambda n=n: len(slack._sockets) > n)
            bots.append(bot)
        first, second = bots
        try:
            command = dict(parse_qsl(slash_command_body(url, response_url=slack.response_url())))
            if first_replica == "stalls-before-acknowledging":
                assert first.proc is not None
                os.kill(first.proc.pid, signal.SIGSTOP)  # connected, but it acknowledges nothing
                envelope = slack.send("slash_commands", command, accepts_response_payload=True, to=0, redeliver_after=1.0)
                slack.wait_ack(envelope, timeout=15)
                assert slack.redelivered == [envelope]
                first.kill()
            else:
                held = slack.hold("chat.postMessage", record=False, channel="C123")
                envelope = slack.send("slash_commands", command, accepts_response_payload=True, to=0, redeliver_after=1.0)
                slack.wait_ack(envelope, timeout=15)
                assert held.arrived.wait(15)
                first.kill()  # acknowledged, recorded, and dead mid-post: the second replica takes it over
            wait_until(lambda: [m for m in slack.messages("C123") if m.get("blocks")])
            wait_until(lambda: [m for m in slack.messages("C123") if m.get("files")])
            second.stop()
            posted = [m for m in slack.messages("C123") if m.get("blocks") and m.get("thread_ts") is None]
            assert len(posted) == 1 and "Socket deploy" in json.dumps(posted[0]["blocks"])
            assert len([m for m in slack.messages("C123") if m.get("files")]) == 1
        finally:
            for bot in bots:
                bot.stop()


def test_sigterm_lets_work_finish_within_the_grace_then_hands_the_rest_to_another_replica_at_once(
    tmp_path, fake_slack, fake_buddy, postgres
):
    action = FakeAction(name="Build", status="SUCCESSFUL", log=["ok"])
    run = fake_buddy.add_execution(actions=[action])
    url = fake_buddy.html_url("acme", "web", 7, run, action)
    database = postgres.new_database(template=TEMPLATE_DATABASE)
    bots = replicas(2, tmp_path, fake_slack, fake_buddy, database)
    for bot in bots:  # a lease far longer than the test: only handing it back can explain a quick take-over
        bot.stop()
        bot.env.update({"WORK_LEASE_S": "60", "SHUTDOWN_GRACE_S": "1"})
        bot.start()
    leaving, staying = bots
    try:
        fake_buddy.fault("/action_executions/", status=200, delay=3600, times=1)
        status, _ = leaving.command(url, response_url=fake_slack.response_url())
        assert status == 200
        wait_until(lambda: fake_buddy.calls("/action_executions/"))
        started = time.monotonic()
        assert leaving.proc is not None
        leaving.proc.terminate()  # SIGTERM
        assert leaving.proc.wait(timeout=15) == 0
        wait_until(lambda: [m for m in fake_slack.messages("C123") if m.get("blocks")], timeout=30)
        assert time.monotonic() - started < 20  # taken over at once, not after the 60 s lease
        assert "taking over unit" in staying.log()
        staying.stop()
        assert len([m for m in fake_slack.messages("C123") if m.get("blocks")]) == 1
    finally:
        for bot in bots:
            bot.stop()
