"""The schema of release 0.1 (one SQLite file: claims, watches, subscriptions, announced runs, final
statuses). A database that release wrote already has these tables and no Alembic version: on
SQLite the same ``CREATE TABLE IF NOT EXISTS`` statements leave it as it is, so it upgrades in place.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Verbatim from release 0.1 (bot/store.py, bot/watch.py, bot/subscriptions/store.py).
_SQLITE_0_1 = [
    """CREATE TABLE IF NOT EXISTS claims (
        channel TEXT NOT NULL, ts TEXT NOT NULL, claimed_at REAL NOT NULL, PRIMARY KEY (channel, ts))""",
    """CREATE TABLE IF NOT EXISTS watches (
        id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, ts TEXT NOT NULL, thread_ts TEXT,
        host TEXT NOT NULL, workspace TEXT NOT NULL, project TEXT NOT NULL, pipeline_id INTEGER NOT NULL,
        execution_id TEXT, action_execution_id TEXT, requested_by TEXT, style TEXT NOT NULL DEFAULT 'summary',
        started_at REAL NOT NULL, next_poll_at REAL NOT NULL, interval_s REAL NOT NULL, last_state TEXT,
        UNIQUE (channel, ts))""",
    "CREATE INDEX IF NOT EXISTS watches_due ON watches (next_poll_at)",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, host TEXT NOT NULL COLLATE NOCASE,
        workspace TEXT NOT NULL COLLATE NOCASE, project TEXT NOT NULL COLLATE NOCASE,
        pipeline_id INTEGER NOT NULL, branch TEXT NOT NULL, mode TEXT NOT NULL, created_by TEXT,
        created_at REAL NOT NULL, UNIQUE (channel, host, workspace, project, pipeline_id, branch))""",
    """CREATE TABLE IF NOT EXISTS announced_runs (
        channel TEXT NOT NULL, run_url TEXT NOT NULL, ts TEXT NOT NULL, final INTEGER NOT NULL,
        announced_at REAL NOT NULL, PRIMARY KEY (channel, run_url))""",
    """CREATE TABLE IF NOT EXISTS final_statuses (
        host TEXT NOT NULL COLLATE NOCASE, workspace TEXT NOT NULL COLLATE NOCASE,
        project TEXT NOT NULL COLLATE NOCASE, pipeline_id INTEGER NOT NULL, branch TEXT NOT NULL,
        run_url TEXT NOT NULL, run_order INTEGER NOT NULL, status TEXT NOT NULL, previous_status TEXT,
        PRIMARY KEY (host, workspace, project, pipeline_id, branch))""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_0_1:
            op.execute(statement)
        return
    op.create_table(
        "claims",
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("ts", sa.String, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("channel", "ts"),
    )
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("ts", sa.String, nullable=False),
        sa.Column("thread_ts", sa.String),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("execution_id", sa.String),
        sa.Column("action_execution_id", sa.String),
        sa.Column("requested_by", sa.String),
        sa.Column("style", sa.String, nullable=False, server_default="summary"),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("next_poll_at", sa.Float, nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("last_state", sa.Text),
        sa.UniqueConstraint("channel", "ts"),
    )
    op.create_index("watches_due", "watches", ["next_poll_at"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("branch", sa.String, nullable=False),
        sa.Column("mode", sa.String, nullable=False),
        sa.Column("created_by", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("channel", "host", "workspace", "project", "pipeline_id", "branch"),
    )
    op.create_table(
        "announced_runs",
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("ts", sa.String, nullable=False),
        sa.Column("final", sa.Integer, nullable=False),
        sa.Column("announced_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("channel", "run_url"),
    )
    op.create_table(
        "final_statuses",
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("branch", sa.String, nullable=False),
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("run_order", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("previous_status", sa.String),
        sa.PrimaryKeyConstraint("host", "workspace", "project", "pipeline_id", "branch"),
    )


def downgrade() -> None:
    for table in ("final_statuses", "announced_runs", "subscriptions", "watches", "claims"):
        op.drop_table(table)
