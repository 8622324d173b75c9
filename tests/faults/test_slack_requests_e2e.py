"""Slack's requests at their worst, through the running bot: JSON nested far too deep, requests that
never finish arriving, event types no listener takes (``app_rate_limited`` included), and a bot's
notification that mentions the bot, whose two events may come in either order."""

from __future__ import annotations

import json
import secrets
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from bot.slack.http_limits import MAX_JSON_DEPTH
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.signing import (
    app_rate_limited_body,
    block_actions_payload,
    event_callback_body,
    post_signed,
    signed_headers,
    slash_command_body,
)
from tests.fakes.slack import BOT_USER_ID, FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import Person, launch_bot, seed, unique, unique_ts, visible_text

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Long enough for the test to open all 300 half-open connections before the first times out, on a
# loaded 2-core machine too.
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
MARGIN_S = 2.0  # what closing may take beyond its timeout
WEBHOOK_TOKEN = secrets.token_urlsafe(32)
WEBHOOK_INFLIGHT = 4
DEEP = "__DEEP__"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    env = {**FAST, "HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
           "BUDDY_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "PUBLIC_URL": "https://bot.example.com",
           "BUDDY_WEBHOOK_MAX_INFLIGHT": str(WEBHOOK_INFLIGHT)}
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, env) as process:
        yield process


class LogSince:
    """The bot's log from the start of a test on."""

    def __init__(self, bot: BotProcess) -> None:
        self.bot = bot
        self.start = len(bot.log())

    def text(self) -> str:
        return self.bot.log()[self.start :]

    def lines(self) -> list[str]:
        return self.text().splitlines()


@pytest.fixture
def bot_log(bot: BotProcess) -> Iterator[LogSince]:
    """What the bot logs during the test; none of it may be a traceback, whatever the test sent."""
    log = LogSince(bot)
    yield log
    assert "Traceback" not in log.text(), log.text()[-3000:]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def with_deep(body: str, levels: int) -> str:
    """``body`` with its ``"__DEEP__"`` placeholder replaced by arrays nested ``levels`` deep (built as
    text: json.dumps itself would run out of stack)."""
    placeholder = json.dumps(DEEP)
    assert body.count(placeholder) == 1
    return body.replace(placeholder, nested(levels))


def event_with_depth(depth: int, channel: str) -> str:
    """A person's message event whose JSON nests ``depth`` levels: envelope, event, then its blocks."""
    event = {"type": "message", "user": "U777", "text": "hello", "ts": unique_ts(), "channel": channel,
             "channel_type": "channel", "blocks": DEEP}
    return with_deep(event_callback_body(event), depth - 2)


def click_with_depth(depth: int, channel: str) -> str:
    """A click on a button no listener takes, its payload nesting ``depth`` levels (payload, state, values)."""
    payload = block_actions_payload({"ts": unique_ts(), "text": "old message", "blocks": []}, "retired_button",
                                    channel=channel)
    payload["state"] = {"values": DEEP}
    return urlencode({"payload": with_deep(json.dumps(payload), depth - 2)})


@pytest.mark.parametrize(
    ("kind", "depth", "expected"),
    [
        pytest.param("event", 100_000, 400, id="event-100000-levels"),
        pytest.param("click", 100_000, 400, id="interactive-payload-100000-levels"),
        pytest.param("event", MAX_JSON_DEPTH + 1, 400, id="event-one-level-too-deep"),
        pytest.param("event", MAX_JSON_DEPTH, 200, id="event-at-the-limit"),
        pytest.param("click", MAX_JSON_DEPTH, 200, id="interactive-payload-at-the-limit"),
    ],
)
def test_json_nested_too_deep_gets_400_and_the_bot_keeps_serving(person: Person, bot_log: LogSince, kind: str,
                                                                  depth: int, expected: int):
    if kind == "event":
        body, content_type = event_with_depth(depth, person.channel), JSON
    else:
        body, content_type = click_with_depth(depth, person.channel), FORM
    status, text = post_signed(person.bot.events_url, body, SIGNING_SECRET, content_type=content_type)
    assert status == expected, text
    if expected == 400:
        assert f"nested deeper than {MAX_JSON_DEPTH} levels" in text
    person.settle(person.channel)
    assert len(person.posts(person.channel)) == 1  # the settle marker's reply, nothing else


# -- requests that never finish arriving --------------------------------------------------------------


@dataclass
class HalfOpen:
    """A connection that sent part of a request (or nothing), then nothing more."""

    kind: str
    sock: socket.socket
    opened: float
    timeout_s: float  # the one that closes it
    received: bytes = b""
    closed: float | None = None


def _headers(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


HALF_OPEN = {
    # kind: (what it sends, which timeout closes it, how many such connections)
    "nothing": (b"", HEADER_TIMEOUT_S, 100),
    "headers-unfinished": (b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl", HEADER_TIMEOUT_S, 100),
    "slack-body-unfinished": (_headers("/slack/events", 1000) + b'{"type": "', BODY_TIMEOUT_S, 100 - WEBHOOK_INFLIGHT),
    # Beyond BUDDY_WEBHOOK_MAX_INFLIGHT deliveries being read, the webhook answers 503 at once.
    "webhook-body-unfinished": (_headers(f"/buddy/webhooks/{WEBHOOK_TOKEN}", 100_000) + b'{"execution": {', BODY_TIMEOUT_S,
                                WEBHOOK_INFLIGHT),
}


def open_half(bot: BotProcess, kind: str) -> HalfOpen:
    sent, timeout_s, _ = HALF_OPEN[kind]
    sock = socket.create_connection(("127.0.0.1", bot.port), timeout=10)
    opened = time.monotonic()
    if sent:
        sock.sendall(sent)
    sock.setblocking(False)
    return HalfOpen(kind, sock, opened, timeout_s)


def wait_until_closed(connections: list[HalfOpen], deadline: float, on_tick) -> None:
    """Reads every connection until the bot closes it (or ``deadline``); ``on_tick`` runs in between."""
    with selectors.DefaultSelector() as selector:
        for conn in connections:
            selector.register(conn.sock, selectors.EVENT_READ, conn)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.02):
                conn = key.data
                try:
                    data = conn.sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    conn.received += data
                    continue
                conn.closed = time.monotonic()
                selector.unregister(conn.sock)
            on_tick()


def steady_fds(bot: BotProcess) -> int:
    """The bot's descriptor count once two readings 0.2 s apart agree."""
    previous = bot.open_fds()
    for _ in range(50):
        time.sleep(0.2)
        current = bot.open_fds()
        if current == previous:
            return current
        previous = current
    return previous


def test_300_half_open_connections_are_closed_within_the_timeouts(person: Person, bot_log: LogSince):
    bot = person.bot
    assert bot.healthy()
    before = steady_fds(bot)
    connections = [open_half(bot, kind) for kind, (_, _, count) in HALF_OPEN.items() for _ in range(count)]
    assert len(connections) == 300
    held = [bot.connections_held()]
    peak_fds = [bot.open_fds()]

    def measure() -> None:
        held.append(bot.connections_held())
        peak_fds.append(bot.open_fds())

    try:
        wait_until_closed(connections, time.monotonic() + max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + MARGIN_S + 5, measure)
    finally:
        for conn in connections:
            conn.sock.close()
    # All 300 were held by the bot at once before the first timeout: the test did load it.
    assert max(held) == len(connections), held[:20]
    assert max(peak_fds) >= before + len(connections) - 5, (before, max(peak_fds))  # its pools may close one meanwhile
    for conn in connections:
        assert conn.closed is not None, f"{conn.kind}: still open"
        assert conn.closed - conn.opened <= conn.timeout_s + MARGIN_S, (conn.kind, conn.closed - conn.opened)
        if conn.kind.endswith("body-unfinished"):
            assert conn.received.startswith(b"HTTP/1.1 408 "), (conn.kind, conn.received[:200])
            assert f"did not arrive within {BODY_TIMEOUT_S:g} s".encode() in conn.received
        else:
            assert conn.received == b"", (conn.kind, conn.received[:200])  # closed without an answer
    deadline = time.monotonic() + MARGIN_S
    while bot.open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bot.open_fds() <= before, (before, bot.open_fds())
    # Whatever held those connections is gone, and the bot still answers.
    person.settle(person.channel)


def test_a_request_that_arrives_in_time_is_answered_though_slowly_sent(person: Person, bot_log: LogSince):
    """The control: headers and body trickling in, but complete before the timeouts, are served."""
    body = slash_command_body("help", channel_id=person.channel, response_url=person.slack.response_url(unique("r")))
    headers = {"Content-Type": FORM, "Content-Length": str(len(body)), "Host": "127.0.0.1",
               **signed_headers(SIGNING_SECRET, body), "Connection": "close"}
    head = "POST /slack/events HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", person.bot.port), timeout=10) as sock:
        half = len(head) // 2
        sock.sendall(head[:half].encode())
        time.sleep(HEADER_TIMEOUT_S * 0.3)
        sock.sendall(head[half:].encode() + body[: len(body) // 2].encode())
        time.sleep(BODY_TIMEOUT_S * 0.3)
        sock.sendall(body[len(body) // 2 :].encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"/buddy" in answer


def test_a_sender_hanging_up_midway_or_a_broken_chunked_body_ends_without_a_traceback(person: Person, bot_log: LogSince):
    port = person.bot.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_headers("/slack/events", 1000) + b'{"type": "event_callback", ')
        time.sleep(0.2)  # the bot is reading the body when the sender goes
    broken = (b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\nzz\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(broken)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.split(b" ", 2)[1] == b"400", answer[:300]  # aiohttp's own parser answers this one
    person.settle(person.channel)
    logged = bot_log.text()
    assert "a request to /slack/events broke off before its body ended" in logged
    assert "malformed HTTP, refused with 400 (Invalid character in chunk size)" in logged


# -- event types without a listener ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    ["reaction_added", "member_joined_channel", "app_home_opened", "channel_rename", "an_event_slack_adds_next_year"],
)
def test_every_event_type_without_a_listener_gets_200(person: Person, bot_log: LogSince, event_type: str):
    event = {"type": event_type, "user": "U777", "channel": person.channel, "event_ts": unique_ts()}
    status, text = post_signed(person.bot.events_url, event_callback_body(event), SIGNING_SECRET, content_type=JSON)
    assert status == 200, text
    person.settle(person.channel)
    assert "Unhandled request" not in bot_log.text()  # nor Bolt's warning with its suggested listener
    assert not person.buddy.calls()


def test_app_rate_limited_gets_200_and_a_warning_naming_the_minute(person: Person, bot_log: LogSince):
    minute = 1518467820  # 2018-02-12 20:37 UTC
    status, text = post_signed(person.bot.events_url, app_rate_limited_body(minute), SIGNING_SECRET, content_type=JSON)
    assert status == 200, text
    person.settle(person.channel)
    [warning] = [line for line in bot_log.lines() if "WARNING" in line]
    assert "for the minute from 2018-02-12 20:37 UTC" in warning and "T123" in warning, warning


def test_a_click_or_a_command_without_a_listener_gets_200_and_no_traceback(person: Person, bot_log: LogSince):
    payload = block_actions_payload({"ts": unique_ts(), "text": "old message", "blocks": []}, "retired_button",
                                    channel=person.channel)
    status, text = person.bot.click(payload)
    assert (status, text) == (200, "")
    form = slash_command_body("deploy now", command="/deploy", channel_id=person.channel)
    status, text = post_signed(person.bot.events_url, form, SIGNING_SECRET, content_type=FORM)
    assert status == 200
    answer = json.loads(text)
    assert answer["response_type"] == "ephemeral"
    assert "/deploy is not a command I answer: mine is /buddy" in visible_text(answer)
    person.settle(person.channel)


# -- a bot's notification that mentions the bot ----------------------------------------------------------


@pytest.mark.parametrize("first", ["message", "app_mention"])
def test_bot_notification_mentioning_the_bot_is_answered_once_whichever_event_comes_first(
    person: Person, bot_log: LogSince, first: str
):
    run = seed(person.buddy, status="FAILED")
    channel = unique("C")
    ts = unique_ts()
    notification = {"user": "UBUDDYAPP", "bot_id": "BBUDDY", "app_id": "ABUDDY", "ts": ts, "channel": channel,
                    "event_ts": ts, "text": f"<@{BOT_USER_ID}> a run failed",
                    "attachments": [{"fallback": "Failed", "fields": [{"title": "Run", "value": f"<{run.execution_url}|#1>"}]}]}
    events = {"message": {**notification, "type": "message", "channel_type": "channel"},
              "app_mention": {**notification, "type": "app_mention"}}
    second = "app_mention" if first == "message" else "message"
    # The first event answers by itself: the other may never come (some installations send only one).
    assert person.event(events[first]) == 200
    [answer] = person.wait_posts(channel, thread_ts=ts)
    assert "Deploy" in visible_text(answer.params)  # the run's summary, read from the attachment
    calls = len(person.buddy_calls(run))
    assert person.event(events[second]) == 200
    person.settle(channel)
    assert len(person.posts(channel, thread_ts=ts)) == 1
    assert len(person.buddy_calls(run)) == calls


def test_both_events_of_a_mentioning_notification_at_once_get_one_answer(person: Person, bot_log: LogSince):
    run = seed(person.buddy, status="FAILED")
    channel = unique("C")
    ts = unique_ts()
    notification = {"user": "UBUDDYAPP", "bot_id": "BBUDDY", "ts": ts, "channel": channel, "event_ts": ts,
                    "text": f"<@{BOT_USER_ID}> failed: <{run.execution_url}|#1>"}
    assert person.event({**notification, "type": "app_mention"}) == 200
    assert person.event({**notification, "type": "message", "channel_type": "channel"}) == 200
    person.wait_posts(channel, thread_ts=ts)
    person.settle(channel)
    assert len(person.posts(channel, thread_ts=ts)) == 1
