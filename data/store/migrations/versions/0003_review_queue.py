"""Fraud review queue: review cases, review decisions (append-only), each merchant's review SLA, and an
index that serves the leases' claiming order (rank, then key) without sorting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out, not imported from data.store.tables (a migration keeps creating what it created that day).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)
APPEND_ONLY = ("review_cases", "review_decisions", "review_settings")


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("payment_id", sa.BigInteger, nullable=False),
        sa.Column("case_key", sa.String(400), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flagged_by", sa.String(64), nullable=False),
        sa.Column("entered_at", Ts, nullable=False),
        sa.Column("due_at", Ts, nullable=False),
        sa.Column("sla_seconds", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.UniqueConstraint("merchant_id", "payment_id", name="uq_review_cases_payment"),
        sa.UniqueConstraint("case_key", name="uq_review_cases_case_key"),
    )
    op.create_index("ix_review_cases_due", "review_cases", ["merchant_id", "due_at"])

    op.create_table(
        "review_decisions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("case_id", Id, sa.ForeignKey("review_cases.id", name="fk_review_decisions_case"), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("payment_id", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("reverses", Id, nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("claimed_at", Ts, nullable=True),
        sa.Column("decided_at", Ts, nullable=False),
        sa.UniqueConstraint("request_id", name="uq_review_decisions_request_id"),
        sa.UniqueConstraint("case_id", "sequence", name="uq_review_decisions_sequence"),
    )
    op.create_index("ix_review_decisions_merchant", "review_decisions", ["merchant_id", "decided_at"])

    op.create_table(
        "review_settings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("sla_seconds", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.UniqueConstraint("request_id", name="uq_review_settings_request_id"),
    )
    op.create_index("ix_review_settings_merchant", "review_settings", ["merchant_id", "id"])

    op.create_index("ix_leases_order", "leases", ["queue", "done_at", "rank", "item_key"])
    _forbid_changes(APPEND_ONLY)


def _forbid_changes(tables) -> None:
    """The same triggers as 0001's append-only tables (PostgreSQL reuses 0001's function)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION retail_pulse_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION retail_pulse_append_only()")
        return
    for table in tables:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")


def downgrade() -> None:
    # Decisions and SLAs are what people did: a store holding any is never downgraded (restore a backup).
    # Cases alone came from scoring, which enqueues them again after an upgrade.
    bind = op.get_bind()
    for table, what in (("review_decisions", "review decisions"), ("review_settings", "review SLA settings")):
        rows = bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        if rows:
            raise RuntimeError(f"the operational store holds {rows} {what}; it is not downgraded below "
                               "migration 0003 (restore a backup made before the upgrade instead)")
    bind.execute(sa.text("DELETE FROM leases WHERE queue = 'fraud_review' AND item_key IN "
                         "(SELECT case_key FROM review_cases)"))
    op.drop_index("ix_leases_order", table_name="leases")
    op.drop_index("ix_review_settings_merchant", table_name="review_settings")
    op.drop_table("review_settings")
    op.drop_index("ix_review_decisions_merchant", table_name="review_decisions")
    op.drop_table("review_decisions")
    op.drop_index("ix_review_cases_due", table_name="review_cases")
    op.drop_table("review_cases")
