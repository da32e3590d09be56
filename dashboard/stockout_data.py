"""What the Stock-out risk page reads: the risk per merchant (cached across sessions), and the merchant's
service level, kept in the operational store.

The risk of one merchant is computed once per (forecast model version, data version, service level) and
shared by every session (``cache.shared_result``): filters, actions and downloads never recompute it.
The model's SKU x location demand (90 days) is read once per model version (``models_ui.read_payload``).

Service level: a document of kind ``stockout_settings`` per merchant (``data.store.documents``), so a
change is revisioned and audited like any other write, and the same for every person and instance.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from dashboard import cache, models_ui
from dashboard.auth.accounts import Principal
from data.store.documents import DocumentKind, Documents
from data.store.errors import InvalidValue
from data.store.principal import Principal as StorePrincipal
from models.artifacts import SavedModel
from models.forecasting.outputs import compute_location_demand

KIND = "demand_forecast"
SETTINGS_KIND = "stockout_settings"
DEFAULT_SERVICE_LEVEL = 0.95
# The engine needs a level above one half (below it the reorder point would plan to run out more often than not).
LOWEST, HIGHEST = 0.505, 0.999
DEMAND_DAYS = 90
RISK_ENTRIES = 32


def check_settings(body: object) -> dict:
    """``{"service_level": fraction}`` with the fraction between LOWEST and HIGHEST, or InvalidValue."""
    if not isinstance(body, dict) or set(body) != {"service_level"}:
        raise InvalidValue("stock-out settings are {'service_level': fraction}")
    level = body["service_level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not LOWEST <= float(level) <= HIGHEST:
        raise InvalidValue(f"the service level must be between {LOWEST:.1%} and {HIGHEST:.1%}, got {level!r}")
    return {"service_level": float(level)}


STOCKOUT_SETTINGS = DocumentKind(SETTINGS_KIND, ("saved",), check_settings,
                                 "A merchant's stock-out settings: the service level reorder points aim for.")


def store_principal(principal: Principal) -> StorePrincipal:
    """The store's principal of the signed-in person: their user name, their merchants (None for staff)."""
    return StorePrincipal(principal.username, principal.merchant_ids)


class ServiceLevels:
    """Service levels per merchant in the operational store (pure: no streamlit)."""

    def __init__(self, store):
        self.documents = Documents(store, kinds=(STOCKOUT_SETTINGS,))

    def _current(self, who: StorePrincipal, merchant_ids) -> dict:
        revisions = self.documents.latest(who, kind=SETTINGS_KIND, merchant_ids=sorted(merchant_ids))
        out = {}
        for r in reversed(revisions):  # oldest first, so the newest document of a merchant wins
            out[r.merchant_id] = r
        return out

    def get(self, who: StorePrincipal, merchant_ids) -> dict[int, float]:
        """merchant id -> service level (DEFAULT_SERVICE_LEVEL for a merchant that never set one)."""
        current = self._current(who, merchant_ids)
        return {m: current[m].body["service_level"] if m in current else DEFAULT_SERVICE_LEVEL
                for m in merchant_ids}

    def set(self, who: StorePrincipal, merchant_id: int, level: float, request_id: str) -> float:
        current = self._current(who, [merchant_id]).get(merchant_id)
        body = {"service_level": level}
        if current is None:
            saved = self.documents.create(who, kind=SETTINGS_KIND, merchant_id=merchant_id, body=body,
                                          request_id=request_id, title="Stock-out settings")
        else:
            saved = self.documents.revise(who, kind=SETTINGS_KIND, document_id=current.document_id,
                                          base_revision=current.revision, request_id=request_id, body=body)
        return saved.body["service_level"]


def _location_demand(payload: bytes) -> pl.DataFrame:
    return compute_location_demand(payload, days=DEMAND_DAYS)


models_ui.register_reader("stockout_location_demand", _location_demand)


def location_demand(saved: SavedModel) -> pl.DataFrame:
    """SKU x location daily demand of the next 90 days (``compute_location_demand``), once per model version."""
    return models_ui.read_payload(saved, "stockout_location_demand")


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=RISK_ENTRIES)
def _risk(merchant_id: int, model_version: str, data_version: int, service_level: float,
          _saved: SavedModel) -> pl.DataFrame:
    from models.stockout.risk import compute_stockout_risk

    return compute_stockout_risk(cache.access((merchant_id,)), location_demand(_saved), service_level=service_level)


def risk(saved: SavedModel, data_version: int, service_level: float) -> pl.DataFrame:
    """One merchant's stock-out risk (columns: ``models.stockout.risk``), shared across sessions."""
    return _risk(saved.merchant_id, saved.version, data_version, round(float(service_level), 4), saved)


def risks(models: list[tuple[SavedModel, float]], data_version: int) -> list[pl.DataFrame]:
    """The risk of several merchants ((saved model, service level) each), in that order. Merchants not computed
    yet are computed two at a time: DuckDB, polars and numpy release the GIL, so a staff view over four
    merchants at 10M orders opens in about two thirds of the time of one after another."""
    if len(models) < 2:
        return [risk(saved, data_version, level) for saved, level in models]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stockout-risk") as pool:
        return list(pool.map(lambda item: risk(item[0], data_version, item[1]), models))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=256)
def purchase_order_history(merchant_id: int, product_id: int, store_id: int, data_version: int) -> pl.DataFrame:
    from analytics.stockout_alerts import compute_purchase_order_history

    return compute_purchase_order_history(cache.access((merchant_id,)), product_id, store_id)
