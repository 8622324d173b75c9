"""A PostgreSQL server for the benchmark's sections with the state on it: the one the tests start
(``tests/fakes/postgres.py``), on this machine, at a free port."""

from __future__ import annotations

from tests.fakes.postgres import PostgresServer


def start_postgres() -> PostgresServer:
    return PostgresServer().initdb().start()


def postmaster_pid(server: PostgresServer) -> int:
    """The server's first process: every connection's backend is forked from it."""
    return int((server.data / "postmaster.pid").read_text().split()[0])
