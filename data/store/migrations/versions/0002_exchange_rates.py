"""Exchange rates an admin enters for the staff merchant ranking's converted view.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("target", sa.String(3), nullable=False),
        sa.Column("rates", Json, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id", name="uq_exchange_rates_request_id"),
    )
    op.create_index("ix_exchange_rates_target", "exchange_rates", ["target", "id"])


def downgrade() -> None:
    op.drop_index("ix_exchange_rates_target", table_name="exchange_rates")
    op.drop_table("exchange_rates")
