"""Operational store: audit log, alert actions, document revisions (purchase-order drafts), leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out here rather than imported from data.store.tables: a migration must keep creating what it
# created on the day it was written, whatever tables.py says later.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)
APPEND_ONLY = ("audit_log", "alert_actions", "document_revisions")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=True),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(400), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("before", Json, nullable=True),
        sa.Column("after", Json, nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["merchant_id", "entity", "entity_id"])
    op.create_index("ix_audit_log_request", "audit_log", ["request_id"])

    op.create_table(
        "alert_actions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("alert_kind", sa.String(32), nullable=False),
        sa.Column("alert_key", sa.String(400), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("snoozed_until", Ts, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.UniqueConstraint("request_id", name="uq_alert_actions_request_id"),
    )
    op.create_index("ix_alert_actions_alert", "alert_actions", ["merchant_id", "alert_kind", "alert_key", "id"])

    op.create_table(
        "document_revisions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("title", sa.String(400), nullable=True),
        sa.Column("body", Json, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.UniqueConstraint("request_id", name="uq_document_revisions_request_id"),
        sa.UniqueConstraint("kind", "document_id", "revision", name="uq_document_revisions_revision"),
    )
    op.create_index("ix_document_revisions_merchant", "document_revisions", ["merchant_id", "kind", "document_id"])

    op.create_table(
        "leases",
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("item_key", sa.String(400), primary_key=True),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("rank", sa.Float, nullable=False),
        sa.Column("enqueued_at", Ts, nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("token", sa.String(64), nullable=True),
        sa.Column("claimed_at", Ts, nullable=True),
        sa.Column("expires_at", Ts, nullable=True),
        sa.Column("done_at", Ts, nullable=True),
    )
    op.create_index("ix_leases_next", "leases", ["queue", "done_at", "rank"])
    op.create_index("ix_leases_merchant", "leases", ["merchant_id", "queue"])

    _forbid_changes(APPEND_ONLY)


def _forbid_changes(tables) -> None:
    """Triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on the append-only tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION retail_pulse_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN "
            "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused', "
            "ERRCODE = 'insufficient_privilege'; END $body$"
        )
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
    # The audit log is the record of what people did: no downgrade drops it.
    raise RuntimeError("the operational store is not downgraded; restore a backup instead")
