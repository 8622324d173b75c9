"""Bot processes forked from one that has already imported the bot, so that each test's bot starts in
a fraction of a second instead of the two a fresh interpreter spends importing Bolt, SQLAlchemy,
aiohttp and pydantic (which was most of the suite's time).

Each bot is still a process of its own, with its own pid, environment, working directory and log,
and dies of a real SIGKILL: only the imports are shared. The parent (the "zygote") is started once per
test process with ``python -m tests.fakes.zygote`` and takes orders as JSON lines on its stdin: start a
module (as ``python -m <module>`` would), or report whether a pid has exited. It runs a single thread,
so that nothing a child inherits is locked by a thread the child does not have. ``python -m bench``
spawns its bots afresh and does not use it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRELOADED = ("bot.cli", "bot.slack.runner", "bot.slack.listeners", "slack_bolt.adapter.socket_mode.async_handler")


class ForkedProcess:
    """What tests use of ``subprocess.Popen``, for a bot forked by the zygote."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"bot {self.pid}", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    _lock = threading.Lock()
    _running: Zygote | None = None

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT
        )
        self._ask_lock = threading.Lock()
        assert self._ask({"order": "ping"}) == {"ok": True}

    @classmethod
    def shared(cls) -> Zygote:
        with cls._lock:
            if cls._running is None or cls._running._proc.poll() is not None:
                cls._running = Zygote()
            return cls._running

    def start(self, module: str, *, env: dict[str, str], cwd: Path, log: Path) -> ForkedProcess:
        answer = self._ask({"order": "start", "module": module, "env": env, "cwd": str(cwd), "log": str(log)})
        return ForkedProcess(self, answer["pid"])

    def exit_code(self, pid: int) -> int | None:
        return self._ask({"order": "status", "pid": pid})["code"]

    def _ask(self, order: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._ask_lock:
            self._proc.stdin.write(json.dumps(order).encode() + b"\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote exited with {self._proc.wait()}")
        return json.loads(line)


def _serve() -> None:
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    orders, answers = sys.stdin.buffer, sys.stdout.buffer
    exited: dict[int, int] = {}
    for line in orders:
        order = json.loads(line)
        while True:  # reap every child that has exited since the last order
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            exited[pid] = os.waitstatus_to_exitcode(status)
        if order["order"] == "start":
            pid = os.fork()
            if pid == 0:
                _child(order)
            answer: dict[str, Any] = {"pid": pid}
        elif order["order"] == "status":
            answer = {"code": exited.get(order["pid"])}
        else:
            answer = {"ok": True}
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()


def _child(order: dict[str, Any]) -> None:
    """In the forked child: become ``python -m <module>`` with the order's environment, and never return."""
    code = 1
    try:
        os.chdir(order["cwd"])
        os.environ.clear()
        os.environ.update(order["env"])
        log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0, now /dev/null
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        import runpy

        sys.argv = [order["module"]]
        runpy.run_module(order["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        import atexit
        import logging

        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _serve()
