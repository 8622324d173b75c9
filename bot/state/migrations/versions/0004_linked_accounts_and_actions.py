"""Acting from Slack: linked Buddy accounts (tokens encrypted), OAuth states in flight, the lock that
makes a double click one Buddy call, and the audit trail of actions; and whose token a followed run
is read with (READ_AS_ASKER). New tables, and new nullable columns only.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "linked_accounts",
        sa.Column("team", sa.String, nullable=False),
        sa.Column("slack_user", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("buddy_user_id", sa.BigInteger),
        sa.Column("buddy_user_name", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("refresh_token", sa.Text),
        sa.Column("expires_at", sa.Float),
        sa.Column("scopes", sa.String, nullable=False, server_default=""),
        sa.Column("linked_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("team", "slack_user", "host"),
    )
    op.create_table(
        "oauth_states",
        sa.Column("state", sa.String, primary_key=True),
        sa.Column("team", sa.String, nullable=False),
        sa.Column("slack_user", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("code_verifier", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("workspace", sa.String),
    )
    op.create_table(
        "action_locks",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("unit_id", sa.String(32), nullable=False),
        sa.Column("until", sa.Float, nullable=False),
    )
    op.create_table(
        "action_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(32), nullable=False, unique=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("team", sa.String, nullable=False),
        sa.Column("slack_user", sa.String, nullable=False),
        sa.Column("buddy_user", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("execution_id", sa.BigInteger),
        sa.Column("run_url", sa.String, nullable=False),
        sa.Column("result", sa.String, nullable=False),
        sa.Column("detail", sa.String, nullable=False, server_default=""),
    )
    op.create_index("action_audit_pipeline", "action_audit", ["host", "workspace", "project", "pipeline_id", "at"])
    op.add_column("watches", sa.Column("reader_team", sa.String))
    op.add_column("watches", sa.Column("reader_user", sa.String))
    op.add_column("watches", sa.Column("kept_blocks", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("kept_blocks")
        batch.drop_column("reader_user")
        batch.drop_column("reader_team")
    op.drop_index("action_audit_pipeline", "action_audit")
    for table in ("action_audit", "action_locks", "oauth_states", "linked_accounts"):
        op.drop_table(table)
