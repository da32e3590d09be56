"""The store's tables, as SQLAlchemy Core metadata (queries use these; migrations create them).

Decisions are never edited in place: alert actions and document revisions only ever get new rows, and the
current state is derived from the latest ones. The audit log is append-only, enforced by triggers that the
migrations install on both engines (review cases, decisions and settings too). Only ``leases`` is updated in place: it is the live claim on a queue
item, and every change to it is audited.

A test checks that the migrated database matches this metadata (tests/test_store_migrations.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, TypeDecorator, DateTime, UniqueConstraint)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
REQUEST_ID = 200
NAME = 200
KEY = 400


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes in and out; naive datetimes are refused (their zone is a guess).

    SQLite keeps them as ISO text in UTC, so comparisons in SQL order correctly; PostgreSQL as timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value!r} has no timezone; the store keeps UTC times only")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


audit_log = Table(
    "audit_log", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(NAME), nullable=False),
    Column("merchant_id", Integer, nullable=True),
    Column("entity", String(64), nullable=False),
    Column("entity_id", String(KEY), nullable=False),
    Column("action", String(64), nullable=False),
    Column("before", Json, nullable=True),
    Column("after", Json, nullable=True),
    Column("request_id", String(REQUEST_ID), nullable=True),
    Index("ix_audit_log_entity", "merchant_id", "entity", "entity_id"),
    Index("ix_audit_log_request", "request_id"),
)

alert_actions = Table(
    "alert_actions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("merchant_id", Integer, nullable=False),
    Column("alert_kind", String(32), nullable=False),
    Column("alert_key", String(KEY), nullable=False),
    Column("action", String(32), nullable=False),
    Column("assignee", String(NAME), nullable=True),
    Column("snoozed_until", UtcDateTime(), nullable=True),
    Column("reason", String(NAME), nullable=True),
    Column("note", Text, nullable=True),
    Column("actor", String(NAME), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_alert_actions_request_id"),
    Index("ix_alert_actions_alert", "merchant_id", "alert_kind", "alert_key", "id"),
)

document_revisions = Table(
    "document_revisions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("merchant_id", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("document_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("title", String(KEY), nullable=True),
    Column("body", Json, nullable=False),
    Column("note", Text, nullable=True),
    Column("actor", String(NAME), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_document_revisions_request_id"),
    UniqueConstraint("kind", "document_id", "revision", name="uq_document_revisions_revision"),
    Index("ix_document_revisions_merchant", "merchant_id", "kind", "document_id"),
)

leases = Table(
    "leases", metadata,
    Column("queue", String(64), primary_key=True),
    Column("item_key", String(KEY), primary_key=True),
    Column("merchant_id", Integer, nullable=False),
    Column("rank", Float, nullable=False),
    Column("enqueued_at", UtcDateTime(), nullable=False),
    Column("holder", String(NAME), nullable=True),
    Column("token", String(64), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("done_at", UtcDateTime(), nullable=True),
    Index("ix_leases_next", "queue", "done_at", "rank"),
    Index("ix_leases_merchant", "merchant_id", "queue"),
    # Claiming order (rank, then key) straight from the index: no sort, however many items tie on rank.
    Index("ix_leases_order", "queue", "done_at", "rank", "item_key"),
)

# Exchange rates an admin entered for the staff merchant ranking's optional conversion (issue 7). A new
# set is a new row; the latest row for a target currency is current.
exchange_rates = Table(
    "exchange_rates", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("target", String(3), nullable=False),
    Column("rates", Json, nullable=False),
    Column("actor", String(NAME), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_exchange_rates_request_id"),
    Index("ix_exchange_rates_target", "target", "id"),
)

# The fraud review queue (issue 9). A case is a flagged payment (one per merchant and payment); its claim
# lives in ``leases`` (queue ``fraud_review``, item key ``case_key``, rank = deadline as epoch seconds).
# case_key is made of fixed-width digits so that leases' own order (rank, then key) is the review order:
# amount high to low, score high to low, then merchant and payment (see reviews.case_key).
# Decisions are numbered per case: 1 is the reviewer's decision, 2, 3... are reversals, each naming the
# decision it replaces, so (case_id, sequence) being unique means no case is ever decided twice at once.
review_cases = Table(
    "review_cases", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Integer, nullable=False),
    Column("payment_id", BigInteger, nullable=False),
    Column("case_key", String(KEY), nullable=False),
    Column("score", Float, nullable=False),
    Column("amount", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("flagged_by", String(64), nullable=False),
    Column("entered_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("sla_seconds", Integer, nullable=False),
    Column("actor", String(NAME), nullable=False),
    UniqueConstraint("merchant_id", "payment_id", name="uq_review_cases_payment"),
    UniqueConstraint("case_key", name="uq_review_cases_case_key"),
    Index("ix_review_cases_due", "merchant_id", "due_at"),
)

review_decisions = Table(
    "review_decisions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("case_id", Id, ForeignKey("review_cases.id", name="fk_review_decisions_case"), nullable=False),
    Column("merchant_id", Integer, nullable=False),
    Column("payment_id", BigInteger, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("note", Text, nullable=True),
    Column("reverses", Id, nullable=True),
    Column("mode", String(16), nullable=False),
    Column("reviewer", String(NAME), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_review_decisions_request_id"),
    UniqueConstraint("case_id", "sequence", name="uq_review_decisions_sequence"),
    Index("ix_review_decisions_merchant", "merchant_id", "decided_at"),
)

# The review SLA each merchant sets; a new setting is a new row, the latest one per merchant is current.
review_settings = Table(
    "review_settings", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("merchant_id", Integer, nullable=False),
    Column("sla_seconds", Integer, nullable=False),
    Column("actor", String(NAME), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_review_settings_request_id"),
    Index("ix_review_settings_merchant", "merchant_id", "id"),
)

# Anomaly incidents (issue 11): one row per (merchant, incident key); a later run that finds the same incident
# again updates its end and figures in place (audited), never its key.
alert_incidents = Table(
    "alert_incidents", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Integer, nullable=False),
    Column("incident_key", String(64), nullable=False),
    Column("rule_key", String(NAME), nullable=False),
    Column("grain", String(8), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("dimension", String(64), nullable=False),
    Column("dimension_value", String(KEY), nullable=True),
    Column("direction", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=False),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("anomalies", Integer, nullable=False),
    Column("causes", Json, nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint("merchant_id", "incident_key", name="uq_alert_incidents_key"),
    Index("ix_alert_incidents_merchant", "merchant_id", "started_at"),
)

# The notification outbox: one row per (merchant, kind, subject, channel), so nothing is ever queued twice.
# Written in the same transaction as the incident it announces; a sender claims due rows (claim_token,
# claimed_until), sends, and marks them sent; a failure schedules the next attempt with backoff.
alert_notifications = Table(
    "alert_notifications", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject_key", String(KEY), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("message", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("claim_token", String(64), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    UniqueConstraint("merchant_id", "kind", "subject_key", "channel_id", name="uq_alert_notifications_item"),
    Index("ix_alert_notifications_due", "status", "next_attempt_at"),
)

# Where a merchant's alerts are delivered: apprise URLs (they hold secrets, so they live here and not in the
# audited rules document; the audit log records them masked). Each change is a new row; the latest row per
# (merchant, channel) is current, and a row with no URL removes the channel.
alert_channels = Table(
    "alert_channels", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", String(REQUEST_ID), nullable=False),
    Column("merchant_id", Integer, nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("label", String(NAME), nullable=True),
    Column("url", Text, nullable=True),
    Column("instant", Boolean, nullable=False),
    Column("digest", Boolean, nullable=False),
    Column("actor", String(NAME), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", name="uq_alert_channels_request_id"),
    Index("ix_alert_channels_merchant", "merchant_id", "channel_id", "id"),
)

APPEND_ONLY_TABLES = ("audit_log", "alert_actions", "document_revisions", "review_cases", "review_decisions",
                      "review_settings", "alert_channels")
