"""Each Slack installation's own Buddy settings, set by its admins from the Home tab: one row per
installation, every value sealed together with TOKEN_ENCRYPTION_KEY. A new table only.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_settings",
        sa.Column("team", sa.String, primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workspace_settings")
