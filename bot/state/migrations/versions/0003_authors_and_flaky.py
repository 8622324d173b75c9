"""The commit's author and flaky actions: outcomes per pipeline, action and revision; who claimed a
failure; the one DM per failed run; where failures were announced; the last post per pipeline and
channel. Only new tables: replicas of the release before keep working on the upgraded schema.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("action_id", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.String, nullable=False),
        sa.Column("run_order", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.UniqueConstraint("host", "workspace", "project", "pipeline_id", "action_id", "run_order", "status"),
    )
    op.create_index("action_outcomes_runs", "action_outcomes", ["host", "workspace", "project", "pipeline_id", "run_order"])
    op.create_table(
        "failure_claims",
        sa.Column("run_url", sa.String, primary_key=True),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "author_dms",
        sa.Column("run_url", sa.String, primary_key=True),
        sa.Column("unit_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
    )
    op.create_table(
        "failure_threads",
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("thread_ts", sa.String, nullable=False),
        sa.Column("announced_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_url", "channel"),
    )
    op.create_table(
        "pipeline_posts",
        sa.Column("channel", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.String, nullable=False),
        sa.Column("posted_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("channel", "host", "workspace", "project", "pipeline_id"),
    )


def downgrade() -> None:
    for table in ("pipeline_posts", "failure_threads", "author_dms", "failure_claims", "action_outcomes"):
        op.drop_table(table)
