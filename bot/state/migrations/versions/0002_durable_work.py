"""Durable work and what replicas share: units of work and their recorded effects, watch leases,
shared schedules (one poll per interval in all), and the web-id → API-id map.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("unit_id", sa.String(32)))
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("owner", sa.String))
        batch.add_column(sa.Column("lease_until", sa.Float))
        batch.add_column(sa.Column("taken_from", sa.String))
    op.create_table(
        "work_units",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("dedupe_key", sa.String, nullable=False, unique=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("owner", sa.String),
        sa.Column("lease_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("done_at", sa.Float),
        sa.Column("degraded", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("work_units_due", "work_units", ["status", "lease_until"])
    op.create_table(
        "work_effects",
        sa.Column("unit_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "name"),
    )
    op.create_table(
        "execution_ids",
        sa.Column("host", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=False),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("pipeline_id", sa.BigInteger, nullable=False),
        sa.Column("web_id", sa.String, nullable=False),
        sa.Column("api_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("host", "workspace", "project", "pipeline_id", "web_id"),
    )
    op.create_table(
        "schedules",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("owner", sa.String),
    )


def downgrade() -> None:
    for table in ("schedules", "execution_ids", "work_effects", "work_units"):
        op.drop_table(table)
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("unit_id")
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("taken_from")
        batch.drop_column("lease_until")
        batch.drop_column("owner")
