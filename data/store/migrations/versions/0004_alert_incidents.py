"""Anomaly alerts (issue 11): incidents, the notification outbox (one row per incident and channel), and each
merchant's delivery channels (append-only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Spelled out, not imported from data.store.tables (a migration keeps creating what it created that day).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_incidents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("incident_key", sa.String(64), nullable=False),
        sa.Column("rule_key", sa.String(200), nullable=False),
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(64), nullable=False),
        sa.Column("dimension_value", sa.String(400), nullable=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("ended_at", Ts, nullable=False),
        sa.Column("observed", sa.Float, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("anomalies", sa.Integer, nullable=False),
        sa.Column("causes", Json, nullable=False),
        sa.Column("first_seen_at", Ts, nullable=False),
        sa.Column("last_seen_at", Ts, nullable=False),
        sa.UniqueConstraint("merchant_id", "incident_key", name="uq_alert_incidents_key"),
    )
    op.create_index("ix_alert_incidents_merchant", "alert_incidents", ["merchant_id", "started_at"])

    op.create_table(
        "alert_notifications",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_key", sa.String(400), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("message", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Ts, nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("claimed_until", Ts, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("sent_at", Ts, nullable=True),
        sa.UniqueConstraint("merchant_id", "kind", "subject_key", "channel_id", name="uq_alert_notifications_item"),
    )
    op.create_index("ix_alert_notifications_due", "alert_notifications", ["status", "next_attempt_at"])

    op.create_table(
        "alert_channels",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("merchant_id", sa.Integer, nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("instant", sa.Boolean, nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.UniqueConstraint("request_id", name="uq_alert_channels_request_id"),
    )
    op.create_index("ix_alert_channels_merchant", "alert_channels", ["merchant_id", "channel_id", "id"])
    _forbid_changes(("alert_channels",))


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
    # Channels are what people configured: a store holding any is never downgraded (restore a backup).
    # Incidents and the outbox come from detection, which finds them again after an upgrade.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT count(*) FROM alert_channels")).scalar_one()
    if rows:
        raise RuntimeError(f"the operational store holds {rows} alert delivery channel changes; it is not "
                           "downgraded below migration 0004 (restore a backup made before the upgrade instead)")
    op.drop_index("ix_alert_channels_merchant", table_name="alert_channels")
    op.drop_table("alert_channels")
    op.drop_index("ix_alert_notifications_due", table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_index("ix_alert_incidents_merchant", table_name="alert_incidents")
    op.drop_table("alert_incidents")
