"""The operational store: what people do in Retail Pulse (alert actions, purchase-order drafts, fraud review
cases and decisions, and later scenarios), kept transactionally apart from the DuckDB warehouse, with an append-only
audit log. SQLite (WAL) beside the warehouse by default; PostgreSQL when RETAIL_PULSE_STATE_URL names one.

Never imports streamlit. See data/store/store.py for how to use it. Names are imported on first use, so
`python -m data` (which registers `store` commands) does not load SQLAlchemy until a store command runs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AlreadyDecided": "data.store.errors", "CaseHeld": "data.store.errors", "InvalidValue": "data.store.errors",
    "LeaseLost": "data.store.errors", "OutOfScope": "data.store.errors",
    "RequestIdReused": "data.store.errors", "StaleRevision": "data.store.errors", "StoreError": "data.store.errors",
    "StoreUnavailable": "data.store.errors", "new_request_id": "data.store.idempotency",
    "Principal": "data.store.principal", "Store": "data.store.store", "open_store": "data.store.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'data.store' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
