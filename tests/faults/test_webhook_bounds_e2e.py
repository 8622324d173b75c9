"""Webhook deliveries are bounded, through the running bot: in size (``BUDDY_WEBHOOK_MAX_MB``: 413
before the body is read whole, with or without Content-Length), in memory (a delivery is parsed as
it streams in, its inline logs skipped: the bot's peak grows by less than 64 MB whatever the size),
and in number (``BUDDY_WEBHOOK_MAX_INFLIGHT`` read at once; 503 with ``Retry-After`` beyond). Each
refusal is logged with what happens to the run next, and polling does catch it. Bodies are generated
as they are sent: the test never holds one whole either."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy, FakeExecution
from tests.fakes.buddy_webhooks import HandSentDelivery, execution_payload, post_webhook_stream, streamed_delivery
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import launch_bot

MB = 1024 * 1024
TOKEN = secrets.token_urlsafe(32)
SUBSCRIBED = {**FAST, "BUDDY_WEBHOOK_TOKEN": TOKEN, "PUBLIC_URL": "https://bot.example.com", "SUBSCRIPTION_POLL_SECONDS": "1",
              "SLACK_CHANNEL_PACING_S": "0.01", "WATCH_POLL_SECONDS": "3600"}
SMALL_CAP_MB = 2
INFLIGHT = 4  # BUDDY_WEBHOOK_MAX_INFLIGHT's default
DELIVERY_PEAK_MB = 64  # what one delivery may add to the bot's peak, however large
BURST_PEAK_MB = 64  # and what four 100 MB deliveries at once may add to it: each streams, none is held whole
RSS_MARGIN_MB = 64  # 10 s after a burst, VmRSS is back within this of its level before
SOCKET_SLACK = 16 * MB  # what loopback socket buffers can hold beyond what the bot has read


def memory_mb(bot: BotProcess) -> dict[str, float]:
    """The bot's VmRSS and VmHWM, in MB."""
    assert bot.proc is not None
    found = {}
    for line in Path(f"/proc/{bot.proc.pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


def reset_peak(bot: BotProcess) -> None:
    """Starts VmHWM afresh (``5`` to clear_refs), so each test measures its own peak."""
    assert bot.proc is not None
    Path(f"/proc/{bot.proc.pid}/clear_refs").write_text("5")


def webhook_url(bot: BotProcess) -> str:
    return f"{bot.url}/buddy/webhooks/{TOKEN}"


def pipeline_url(pipeline_id: int) -> str:
    return f"https://app.buddy.works/acme/web/pipelines/pipeline/{pipeline_id}"


def subscribe(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy, channel: str, pipeline_id: int) -> None:
    """Subscribes ``channel`` to failures of a pipeline no other test uses."""
    fake_buddy.pipelines.setdefault(("acme", "web", pipeline_id), [])
    status, ack = bot.command(f"subscribe {pipeline_url(pipeline_id)} failures", channel_id=channel,
                              response_url=fake_slack.response_url(channel))
    assert status == 200 and "Checking" in ack
    fake_slack.wait_for("chat.postEphemeral", 1, timeout=15, predicate=lambda c: c.channel == channel)


def failed_run(fake_buddy: FakeBuddy, pipeline_id: int, *, listed: bool = False) -> FakeExecution:
    """A run that fails now; ``listed=False`` keeps it out of the executions list: only a webhook tells."""
    now = datetime.now(timezone.utc)
    failing = FakeAction(name="Unit tests", status="FAILED", log=["test 1 ok", "AssertionError: boom"])
    return fake_buddy.add_execution(pipeline_id=pipeline_id, status="FAILED", branch="main", start=now,
                                    finish=now + timedelta(seconds=95), actions=[FakeAction(name="Build"), failing],
                                    listed=listed)


def announced(fake_slack: FakeSlack, channel: str, runs: list[FakeExecution], timeout: float = 30) -> None:
    """Waits until each run has its one announcement in ``channel``, and no run has two."""
    def parents() -> list:
        return [c for c in fake_slack.calls("chat.postMessage") if c.channel == channel and "thread_ts" not in c.params]

    fake_slack.wait_for("chat.postMessage", len(runs), timeout=timeout,
                        predicate=lambda c: c.channel == channel and "thread_ts" not in c.params)
    texts = [p.params["text"] for p in parents()]
    for run in runs:
        assert sum(f"#{run.id} " in text for text in texts) == 1, (run.id, texts)
    assert len(texts) == len(runs), texts


def not_taken(bot: BotProcess) -> list[str]:
    """The log lines of deliveries the bot did not take (refused, or broken off)."""
    return [line for line in bot.log().splitlines() if "webhook delivery refused" in line or "webhook delivery broke off" in line]


def wait_for_log(bot: BotProcess, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.log():
        assert time.monotonic() < deadline, f"the bot never logged {text!r}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def capped_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    """Deliveries capped at 2 MB; at most 4 read at once (the default); polling every second."""
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, {**SUBSCRIBED, "BUDDY_WEBHOOK_MAX_MB": str(SMALL_CAP_MB)}) as bot:
        yield bot


@pytest.fixture(scope="module")
def roomy_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    """The defaults: deliveries up to 128 MB, 4 at once."""
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, SUBSCRIBED) as bot:
        yield bot


@pytest.fixture(autouse=True)
def fresh_fakes(fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> None:
    fake_slack.reset()
    fake_buddy.reset_calls()


def test_a_delivery_over_the_cap_gets_413_with_or_without_content_length_and_the_bot_keeps_serving(
        capped_bot, fake_slack, fake_buddy):
    bot, cap = capped_bot, SMALL_CAP_MB * MB
    subscribe(bot, fake_slack, fake_buddy, "CCAP", 701)
    run = failed_run(fake_buddy, 701)
    body = streamed_delivery(fake_buddy, run, 3 * cap, pipeline_id=701)

    # It says it is too large: refused before a byte of the body is read.
    declared = HandSentDelivery(webhook_url(bot), content_length=body.length)
    try:
        assert declared.answered(timeout=10)
        status, _, text = declared.response()
        assert status == 413 and f"BUDDY_WEBHOOK_MAX_MB ({SMALL_CAP_MB} MB)" in text and declared.sent == 0
    finally:
        declared.close()

    # Chunked, no length: refused as soon as the bytes counted pass the cap, while it is still being sent.
    endless = HandSentDelivery(webhook_url(bot))
    try:
        endless.send_until_answered(body.endless(), limit=cap + 4 * SOCKET_SLACK)
        assert endless.answered(timeout=10)
        status, _, text = endless.response()
        assert status == 413 and f"BUDDY_WEBHOOK_MAX_MB ({SMALL_CAP_MB} MB)" in text
        assert cap < endless.sent < cap + SOCKET_SLACK
    finally:
        endless.close()

    lines = not_taken(bot)
    assert len(lines) == 2 and all("refused with 413" in line and "polling will catch the run within 1 s" in line
                                   for line in lines)
    assert "Traceback" not in bot.log()
    # The bot keeps serving: a delivery within the cap is announced.
    small = streamed_delivery(fake_buddy, run, cap // 2, pipeline_id=701)
    assert post_webhook_stream(webhook_url(bot), small.chunks(), length=small.length)[0] == 200
    announced(fake_slack, "CCAP", [run])
    assert bot.healthy()


def test_deliveries_beyond_the_inflight_limit_get_503_with_retry_after_and_polling_catches_their_runs(
        capped_bot, fake_slack, fake_buddy):
    bot = capped_bot
    subscribe(bot, fake_slack, fake_buddy, "CBUSY", 702)
    logged_before = len(not_taken(bot))
    runs = [failed_run(fake_buddy, 702) for _ in range(INFLIGHT + 2)]
    payloads = [json.dumps(execution_payload(fake_buddy, run, pipeline_id=702)).encode() for run in runs]
    deliveries = [HandSentDelivery(webhook_url(bot)) for _ in runs]
    try:
        for delivery, payload in zip(deliveries, payloads, strict=True):
            delivery.send(payload[:100])  # slow: the rest comes later
        deadline = time.monotonic() + 15
        while sum(d.answered() for d in deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [i for i, d in enumerate(deliveries) if d.answered(timeout=0.5)]
        assert len(refused) == 2, refused
        for i in refused:
            status, headers, text = deliveries[i].response()
            assert status == 503 and int(headers["Retry-After"]) > 0 and "BUDDY_WEBHOOK_MAX_INFLIGHT=4" in text
            runs[i].listed = True  # Buddy lists every run: polling finds the refused ones
        for i, (delivery, payload) in enumerate(zip(deliveries, payloads, strict=True)):
            if i not in refused:
                delivery.send(payload[100:])
                delivery.end()
                assert delivery.response()[0] == 200
    finally:
        for delivery in deliveries:
            delivery.close()

    lines = not_taken(bot)[logged_before:]
    assert len(lines) == 2 and all("refused with 503" in line and "polling will catch the run within 1 s" in line
                                   for line in lines)
    announced(fake_slack, "CBUSY", runs)


def test_with_polling_off_every_delivery_not_taken_is_logged_as_possibly_missed(tmp_path_factory, fake_slack, fake_buddy):
    body_timeout_s = 5
    unpolled = {**SUBSCRIBED, "SUBSCRIPTION_POLL_SECONDS": "0", "BUDDY_WEBHOOK_MAX_INFLIGHT": "1",
                "BUDDY_WEBHOOK_MAX_MB": str(SMALL_CAP_MB), "HTTP_BODY_TIMEOUT_S": str(body_timeout_s)}
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, unpolled) as bot:
        run = failed_run(fake_buddy, 703)
        payload = json.dumps(execution_payload(fake_buddy, run, pipeline_id=703)).encode()
        pair = [HandSentDelivery(webhook_url(bot)) for _ in range(2)]  # one is read, the other refused
        too_large = HandSentDelivery(webhook_url(bot), content_length=SMALL_CAP_MB * MB + 1)
        try:
            for delivery in pair:
                delivery.send(payload[:100])
            assert too_large.answered(timeout=10) and too_large.response()[0] == 413
            deadline = time.monotonic() + 10
            while not any(d.answered() for d in pair) and time.monotonic() < deadline:
                time.sleep(0.05)
            [busy] = [d for d in pair if d.answered(timeout=0.5)]
            [reading] = [d for d in pair if d is not busy]
            assert busy.response()[0] == 503
            reading.send(payload[100:])
            reading.end()
            assert reading.response()[0] == 200
        finally:
            for delivery in (*pair, too_large):
                delivery.close()
        # One that stops halfway and waits: 408 after the body timeout. One whose sender hangs up.
        stalled = HandSentDelivery(webhook_url(bot))
        try:
            stalled.send(payload[:100])
            assert stalled.answered(timeout=body_timeout_s + 10) and stalled.response()[0] == 408
        finally:
            stalled.close()
        hung_up = HandSentDelivery(webhook_url(bot))
        hung_up.send(payload[:100])
        hung_up.close()
        wait_for_log(bot, "webhook delivery broke off")
        lines = not_taken(bot)
        assert len(lines) == 4, lines
        assert all("polling is off (SUBSCRIPTION_POLL_SECONDS=0), so the run may be missed" in line for line in lines)
        for expected in ("refused with 413: it is 2.0 MB, over BUDDY_WEBHOOK_MAX_MB (2 MB)", "raise BUDDY_WEBHOOK_MAX_MB",
                         "refused with 503: 1 deliveries are being read already (BUDDY_WEBHOOK_MAX_INFLIGHT=1)",
                         "refused with 408", "raise HTTP_BODY_TIMEOUT_S", "broke off"):
            assert sum(expected in line for line in lines) == 1, (expected, lines)
        assert "Traceback" not in bot.log()


def test_a_120mb_delivery_is_announced_and_raises_the_peak_by_less_than_64mb(roomy_bot, fake_slack, fake_buddy):
    bot = roomy_bot
    subscribe(bot, fake_slack, fake_buddy, "CBIG", 704)
    warm_up = failed_run(fake_buddy, 704)
    small = streamed_delivery(fake_buddy, warm_up, MB, pipeline_id=704)
    assert post_webhook_stream(webhook_url(bot), small.chunks(), length=small.length)[0] == 200
    announced(fake_slack, "CBIG", [warm_up])

    reset_peak(bot)
    before = memory_mb(bot)["VmRSS"]
    run = failed_run(fake_buddy, 704)
    big = streamed_delivery(fake_buddy, run, 120 * MB, pipeline_id=704)
    assert 119 * MB < big.length < 121 * MB
    assert post_webhook_stream(webhook_url(bot), big.chunks(), length=big.length)[0] == 200
    announced(fake_slack, "CBIG", [warm_up, run])
    peak = memory_mb(bot)["VmHWM"]
    print(f"120 MB delivery: VmRSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f} MB)")
    assert peak - before < DELIVERY_PEAK_MB


def test_a_burst_of_four_100mb_deliveries_stays_bounded_and_memory_comes_back(roomy_bot, fake_slack, fake_buddy):
    bot = roomy_bot
    subscribe(bot, fake_slack, fake_buddy, "CBURST", 705)
    reset_peak(bot)
    before = memory_mb(bot)["VmRSS"]
    runs = [failed_run(fake_buddy, 705) for _ in range(4)]
    bodies = [streamed_delivery(fake_buddy, run, 100 * MB, pipeline_id=705) for run in runs]
    statuses: list[int] = []
    go = threading.Barrier(len(bodies))

    def deliver(index: int) -> None:
        body = bodies[index]
        go.wait()  # all four at once; two with Content-Length, two chunked
        statuses.append(post_webhook_stream(webhook_url(bot), body.chunks(), length=body.length if index % 2 else None)[0])

    senders = [threading.Thread(target=deliver, args=(i,)) for i in range(len(bodies))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=120)
    done = time.monotonic()
    assert statuses == [200] * 4
    announced(fake_slack, "CBURST", runs)
    peak = memory_mb(bot)["VmHWM"]
    deadline = done + 10
    while memory_mb(bot)["VmRSS"] >= before + RSS_MARGIN_MB and time.monotonic() < deadline:
        time.sleep(0.2)
    after = memory_mb(bot)["VmRSS"]
    print(f"4 x 100 MB at once: VmRSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f} MB), "
          f"{time.monotonic() - done:.1f} s later {after:.0f} MB")
    assert peak - before < BURST_PEAK_MB
    assert after < before + RSS_MARGIN_MB
