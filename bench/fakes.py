"""The fake Buddy and Slack APIs of ``tests/fakes``, each in a process of its own.

Under load the fakes parse hundreds of requests a second; in the benchmark's own process they would
compete for one interpreter lock with the load generator and skew both. A child process serves one
fake and takes orders over a pipe: set latency, add runs, read back what arrived.

``Recorded.time`` and ``Call.time`` are ``time.monotonic()``: on Linux one clock for every process
on the machine, so arrival times from a child compare directly with send times from the parent.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bot.buddy.refs import BuddyRef

WORKSPACE, PROJECT, HOST = "acme", "web", "app.buddy.works"
APPROVERS = ("Ann Example", "Bob Builder", "Cleo Deploy", "Dev Ops", "Eve Release")


@dataclass(frozen=True)
class RunSpec:
    """``count`` finished runs of one pipeline, one action each, shaped like real approval/build actions."""

    count: int
    pipeline_id: int
    log_lines: int = 200
    line_chars: int = 80
    approver: str | None = "outputs"  # "outputs": BUDDY_APPROVING_ACTOR present; "members": name via the API
    approvers: int = len(APPROVERS)


@dataclass(frozen=True)
class Run:
    """One seeded action execution and the two links a person may paste for it."""

    numeric_url: str  # the execution's API id in the link: no id mapping needed
    web_url: str  # the hex web id, as Buddy's UI shows it
    log_bytes: int  # the size of its ``log[]`` as JSON
    last_line: str


class FakeProcess:
    """One fake server (``"buddy"`` or ``"slack"``) in a child process."""

    def __init__(self, kind: str) -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no threads inherited
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(kind, child), daemon=True, name=f"fake-{kind}")
        self.url = ""

    def start(self) -> FakeProcess:
        self._process.start()
        self.url = self.call("url")
        return self

    @property
    def pid(self) -> int:
        assert self._process.pid is not None, "not started"
        return self._process.pid

    def stop(self) -> None:
        if self._process.is_alive():
            self.call("stop")
        self._process.join(timeout=10)

    def call(self, order: str, *args: Any) -> Any:
        self._conn.send((order, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"fake {order} failed: {value}")
        return value

    def __enter__(self) -> FakeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BuddyProcess(FakeProcess):
    def __init__(self) -> None:
        super().__init__("buddy")

    def add_runs(self, spec: RunSpec) -> list[Run]:
        return [Run(*urls) for urls in self.call("add_runs", spec)]

    def calls(self) -> list[tuple[str, dict[str, str], float]]:
        """(path, query, arrival time) of every request since the last reset."""
        return self.call("calls")

    def take_calls(self) -> list[tuple[str, float]]:
        """(path, arrival time) of every request since the last reset or take, and forget them: one step,
        so that no request falls between reading and forgetting."""
        return self.call("take_calls")

    def add_running(self, count: int, pipeline_id: int, log_lines: int) -> list[tuple[int, int, str]]:
        """``count`` runs of one pipeline still in progress (they never end): (pipeline, execution, action
        execution) of each."""
        return self.call("add_running", count, pipeline_id, log_lines)

    def reset_calls(self) -> None:
        self.call("reset_calls")

    def set(self, **attributes: Any) -> None:
        """``latency`` (seconds before each answer), ``include_log`` (details carry ``log[]``)."""
        self.call("set", attributes)


class SlackProcess(FakeProcess):
    def __init__(self) -> None:
        super().__init__("slack")

    def response_url(self, name: str) -> str:
        return self.url.removesuffix("/api/") + f"/response/{name}"

    def posts(self) -> list[tuple[str, float]]:
        """(channel, arrival time) of every chat.postMessage that was answered ok."""
        return self.call("posts")

    def method_counts(self) -> dict[str, int]:
        return self.call("method_counts")

    def snippets(self) -> dict[str, str]:
        """Uploaded snippet contents by channel."""
        return self.call("snippets")

    def reset(self) -> None:
        self.call("reset")


# -- the child's side ---------------------------------------------------------------------------


def _serve(kind: str, conn: Connection) -> None:
    from tests.fakes.buddy import FakeBuddy
    from tests.fakes.slack import FakeSlack

    fake: Any = FakeBuddy().start() if kind == "buddy" else FakeSlack().start()
    orders = _BUDDY_ORDERS if kind == "buddy" else _SLACK_ORDERS
    while True:
        order, args = conn.recv()
        if order == "stop":
            fake.stop()
            conn.send((True, None))
            return
        try:
            conn.send((True, orders[order](fake, *args)))
        except Exception as exc:  # the parent raises it with this text
            conn.send((False, f"{type(exc).__name__}: {exc}"))


def _add_runs(fake: Any, spec: RunSpec) -> list[tuple[str, str, int, str]]:
    from tests.fakes.buddy import BASE_TIME, FakeAction

    for number, name in enumerate(APPROVERS[: spec.approvers], start=1):
        fake.members[(WORKSPACE, number)] = name
    runs = []
    for index in range(spec.count):
        approver_number = index % spec.approvers + 1 if spec.approver else None
        outputs = [{"key": "DEPLOY_URL", "value": f"https://web-{index}.example.com"}]
        if spec.approver == "outputs":
            outputs.append({"key": "BUDDY_APPROVING_ACTOR", "value": APPROVERS[approver_number - 1]})
        action = FakeAction(
            name=f"Deploy to production #{index}",
            type="SSH_COMMAND",
            log=[f"[{i:05d}] " + "x" * max(0, spec.line_chars - 8) for i in range(spec.log_lines)],
            approver_id=approver_number,
            approval_date=BASE_TIME if approver_number else None,
            passed_variables=[
                {"key": "ENV", "value": "production"},
                {"key": "API_TOKEN", "value": "s3cr3t"},
                {"key": "RELEASE", "value": f"2025.05.{index}"},
            ],
            outputted_variables=outputs,
        )
        execution = fake.add_execution(WORKSPACE, PROJECT, spec.pipeline_id, actions=[action])
        numeric = BuddyRef(HOST, WORKSPACE, PROJECT, spec.pipeline_id, str(execution.id), action.ae_id).web_url
        web = fake.html_url(WORKSPACE, PROJECT, spec.pipeline_id, execution, action)
        runs.append((numeric, web, len(json.dumps(action.log)), action.log[-1] if action.log else ""))
    return runs


def _add_running(fake: Any, count: int, pipeline_id: int, log_lines: int) -> list[tuple[int, int, str]]:
    from tests.fakes.buddy import BASE_TIME, FakeAction

    runs = []
    for index in range(count):
        action = FakeAction(
            name=f"Deploy #{index}",
            type="SSH_COMMAND",
            status="INPROGRESS",
            start=BASE_TIME,
            finish=None,
            progress=50,
            log=[f"[{i:05d}] still deploying" for i in range(log_lines)],
        )
        execution = fake.add_execution(WORKSPACE, PROJECT, pipeline_id, actions=[action], status="INPROGRESS", finish=None)
        runs.append((pipeline_id, execution.id, action.ae_id))
    return runs


def _take_calls(fake: Any) -> list[tuple[str, float]]:
    with fake.server.lock:
        taken, fake.server.received = fake.server.received, []
    return [(call.path, call.time) for call in taken]


class _MethodCounts:
    """Counts of the fake Slack's calls by method, kept up as they arrive: the benchmark asks every
    50 ms, and counting them all again each time would take the fake's own interpreter lock from
    the requests it is serving."""

    def __init__(self) -> None:
        self.seen = 0
        self.counts: Counter[str] = Counter()

    def __call__(self, fake: Any) -> dict[str, int]:
        with fake.server.lock:
            new = fake._calls[self.seen :]
        self.seen += len(new)
        self.counts.update(call.method for call in new)
        return dict(self.counts)

    def reset(self, fake: Any) -> None:
        fake.reset()
        self.seen = 0
        self.counts.clear()


_method_counts = _MethodCounts()


def _set(fake: Any, attributes: dict[str, Any]) -> None:
    for name, value in attributes.items():
        if name not in {"latency", "include_log"}:
            raise ValueError(f"unknown fake setting {name}")
        setattr(fake, name, value)


_BUDDY_ORDERS = {
    "url": lambda fake: fake.url,
    "add_runs": _add_runs,
    "calls": lambda fake: [(c.path, c.query, c.time) for c in fake.calls()],
    "take_calls": _take_calls,
    "add_running": _add_running,
    "reset_calls": lambda fake: fake.reset_calls(),
    "set": _set,
}

_SLACK_ORDERS = {
    "url": lambda fake: fake.url,
    "posts": lambda fake: [
        (c.channel, c.time)
        for c in fake.calls("chat.postMessage")
        if c.status == 200 and isinstance(c.response, dict) and c.response.get("ok")
    ],
    "method_counts": _method_counts,
    "snippets": lambda fake: {u["channel"]: u["content"] for u in fake.uploads()},
    "reset": _method_counts.reset,
}
