"""The bot as a real process (``python -m bot``) in HTTP mode, wired to the fake Slack and Buddy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.fakes.buddy import TOKEN as BUDDY_TOKEN
from tests.fakes.zygote import ForkedProcess, Zygote
from tests.fakes.signing import block_actions_body, event_callback_body, post_signed, slash_command_body

SIGNING_SECRET = "test-signing-secret"
# Set by the test suite (tests/conftest.py): bots are forked from one that has imported the bot already.
FORK_ENV = "BOT_PROCESS_FORKED"
BOT_TOKEN = "xoxb-test-token"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    def __init__(self, workdir: Path, *, slack_url: str, buddy_url: str, env: dict[str, str] | None = None,
                 module: str = "bot") -> None:
        self.workdir = workdir
        self.module = module  # the benchmark runs its baseline app the same way
        self.port = free_port()
        self.log_path = workdir / f"bot-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "SLACK_"))},
            "PYTHONPATH": str(ROOT),
            "BUDDY_TOKEN": BUDDY_TOKEN,
            "BUDDY_API_URL": buddy_url,
            "BUDDY_RETRY_BACKOFF_S": "0.01",
            "BUDDY_RATE_LIMIT_MAX_WAIT_S": "2",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            "PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "STATE_DB": str(workdir / "state.db"),
            "LOG_LEVEL": "DEBUG",
            **(env or {}),
        }
        if self.env.get("DATABASE_URL"):
            self.env.pop("STATE_DB")  # the state is on PostgreSQL; both set is refused
        self.proc: subprocess.Popen | ForkedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def start(self, timeout: float = 20, ready: Callable[[], bool] | None = None) -> BotProcess:
        """Starts the bot and waits until ``ready()`` (default: ``GET /health`` answers 200)."""
        if self.module == "bot" and os.environ.get(FORK_ENV) == "1":
            self.proc = Zygote.shared().start(self.module, env=self.env, cwd=self.workdir, log=self.log_path)
        else:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", self.module], cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
        ready = ready or self.healthy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bot exited with {self.proc.returncode}:\n{self.log()}")
            if ready():
                return self
            time.sleep(0.05)
        raise AssertionError(f"bot did not become ready:\n{self.log()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no handler runs, nothing is flushed or handed back."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> BotProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def open_fds(self) -> int:
        """How many file descriptors the bot process holds open (``/proc/<pid>/fd``)."""
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def connections_held(self) -> int:
        """How many accepted connections to its port the bot holds a descriptor for (IPv4 loopback),
        whatever its outgoing connection pools do meanwhile."""
        assert self.proc is not None
        listening = "0A"
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == self.port and fields[3] != listening:
                inodes.add(f"socket:[{fields[9]}]")
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        held = 0
        for fd in fd_dir.iterdir():
            try:
                held += os.readlink(fd) in inodes
            except FileNotFoundError:  # closed while we looked
                pass
        return held

    # -- sending what Slack sends ----------------------------------------------------------------

    def command(self, text: str, *, response_url: str, channel_id: str = "C123", user_id: str = "U123", **kw) -> tuple[int, str]:
        body = slash_command_body(text, channel_id=channel_id, user_id=user_id, response_url=response_url, **kw)
        return post_signed(self.events_url, body, SIGNING_SECRET, content_type="application/x-www-form-urlencoded")

    def click(self, payload: dict) -> tuple[int, str]:
        """A button click (a ``block_actions`` payload, see ``signing.block_actions_payload``)."""
        return post_signed(self.events_url, block_actions_body(payload), SIGNING_SECRET,
                           content_type="application/x-www-form-urlencoded")

    def event(self, event: dict, *, event_id: str | None = None, retry: int | None = None) -> tuple[int, str]:
        body = event_callback_body(event, **({"event_id": event_id} if event_id else {}))
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return post_signed(self.events_url, body, SIGNING_SECRET, content_type="application/json", extra_headers=headers)
