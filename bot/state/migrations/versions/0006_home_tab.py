"""The Home tab: the followed runs waiting for an approval, the runs each person asked about, and who
opened their Home tab lately. New tables only.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "home_waiting_runs",
        sa.Column("team", sa.String, nullable=False),
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("execution_id", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("approve_url", sa.String),
        sa.Column("since", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("team", "run_url"),
    )
    op.create_table(
        "home_recent_runs",
        sa.Column("team", sa.String, nullable=False),
        sa.Column("slack_user", sa.String, nullable=False),
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("team", "slack_user", "run_url"),
    )
    op.create_table(
        "home_viewers",
        sa.Column("team", sa.String, nullable=False),
        sa.Column("slack_user", sa.String, nullable=False),
        sa.Column("person_team", sa.String, nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("team", "slack_user"),
    )
    op.create_index("home_viewers_latest", "home_viewers", ["team", "opened_at"])


def downgrade() -> None:
    op.drop_index("home_viewers_latest", "home_viewers")
    op.drop_table("home_viewers")
    op.drop_table("home_recent_runs")
    op.drop_table("home_waiting_runs")
