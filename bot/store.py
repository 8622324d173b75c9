"""The bot's embedded state (SQLite, ``STATE_DB``): message claims now; watches and subscriptions
add their own tables through ``Store.migrate``.

One connection per process. Each statement is short, so calling it from the event loop is cheaper
than handing it to a thread; WAL mode keeps a reader from blocking the writer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

CLAIM_TTL_S = 24 * 3600  # Slack retries within minutes; a day is far beyond any redelivery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (channel, ts)
);
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.migrate(_SCHEMA)

    def migrate(self, schema: str) -> None:
        with self._lock:
            self.db.executescript(schema)

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, params)

    def close(self) -> None:
        self.db.close()

    # -- claims: one answer per Slack message, even when Slack delivers it twice ---------------------

    def claim(self, channel: str, ts: str) -> bool:
        """True for the first caller; False while another holds the claim or after it answered."""
        now = time.time()
        with self._lock:
            self.db.execute("DELETE FROM claims WHERE claimed_at < ?", (now - CLAIM_TTL_S,))
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO claims (channel, ts, claimed_at) VALUES (?, ?, ?)", (channel, ts, now)
            )
            return cursor.rowcount == 1

    def release(self, channel: str, ts: str) -> None:
        """Gives a message back after a failure, so Slack's retry of it is answered."""
        self.execute("DELETE FROM claims WHERE channel = ? AND ts = ?", (channel, ts))
