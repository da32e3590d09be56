"""The operational store: what people do in Retail Pulse (alert actions, purchase-order drafts, and later
review decisions and scenarios), kept transactionally apart from the DuckDB warehouse, with an append-only
audit log. SQLite (WAL) beside the warehouse by default; PostgreSQL when RETAIL_PULSE_STATE_URL names one.

Never imports streamlit. See data/store/store.py for how to use it.
"""

from data.store.errors import (InvalidValue, LeaseLost, OutOfScope, RequestIdReused, StaleRevision, StoreError,
                               StoreUnavailable)
from data.store.idempotency import new_request_id
from data.store.principal import Principal
from data.store.store import Store, open_store

__all__ = [
    "InvalidValue", "LeaseLost", "OutOfScope", "Principal", "RequestIdReused", "StaleRevision", "Store",
    "StoreError", "StoreUnavailable", "new_request_id", "open_store",
]
