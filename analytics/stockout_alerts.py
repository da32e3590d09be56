"""The stock-out alert list: risk rows (``models.stockout.risk``) with what people did to them, filtered.

Pure (no streamlit, no store): the page hands in the risk frame and the alert states folded from the
operational store (``data.store.alert_actions.AlertState``, keyed by (merchant_id, alert_key)), and gets
back frames. The risk frame's columns are documented in ``models.stockout.risk``; this module adds:

- ``status``: ``open``, ``acknowledged``, ``snoozed`` or ``resolved`` (a resolved alert is closed; a
  snoozed one is hidden until its date; acknowledged means someone is on it);
- ``status_text``: the status in words ("Snoozed until 4 Dec 2026", "Acknowledged by ana");
- ``assignee``: the user the alert is assigned to (null when nobody).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from data.access import DataAccess

# Status filter choices, in the order the page offers them: key -> words.
STATUS_FILTERS = {"open": "Open", "acknowledged": "Acknowledged", "mine": "Assigned to me",
                  "snoozed": "Snoozed", "all": "All"}
Z_80 = 1.2815515655446004  # two-sided 80% band of a normal distribution


@dataclass(frozen=True)
class AlertFilters:
    """What the person narrowed the list to (hashable). Empty tuples mean "any"."""

    min_probability: float = 0.0  # 0..1
    categories: tuple[str, ...] = ()
    abc_classes: tuple[str, ...] = ()
    locations: tuple[int, ...] = ()  # store ids
    status: str = "open"
    search: str = ""  # part of a SKU or product name, any case
    me: str = ""  # the signed-in user, for "assigned to me"

    def __post_init__(self) -> None:
        if self.status not in STATUS_FILTERS:
            raise ValueError(f"status filter must be one of {', '.join(STATUS_FILTERS)}, not {self.status!r}")
        if not 0.0 <= self.min_probability <= 1.0:
            raise ValueError(f"minimum probability must be 0 to 1, got {self.min_probability!r}")


def _status(state: Any, now: dt.datetime) -> tuple[str, str]:
    if state is None:
        return "open", "Open"
    if state.resolved_reason is not None:
        return "resolved", f"Resolved: {state.resolved_reason}"
    if state.snoozed_until is not None and state.snoozed_until > now:
        return "snoozed", f"Snoozed until {state.snoozed_until:%d %b %Y}"
    if state.acknowledged_by is not None:
        return "acknowledged", f"Acknowledged by {state.acknowledged_by}"
    return "open", "Open"


def attach_states(risk: pl.DataFrame, states: Mapping[tuple[int, str], Any], now: dt.datetime) -> pl.DataFrame:
    """``risk`` with ``status``, ``status_text`` and ``assignee`` from the folded alert states.

    Alerts nobody touched are absent from ``states`` and read as open; row order is kept.
    """
    keys = zip(risk["merchant_id"].to_list(), risk["alert_key"].to_list())
    status, text, assignee = [], [], []
    for key in keys:
        state = states.get(key)
        s, t = _status(state, now)
        status.append(s)
        text.append(t)
        assignee.append(None if state is None else state.assignee)
    return risk.with_columns(pl.Series("status", status, dtype=pl.Utf8),
                             pl.Series("status_text", text, dtype=pl.Utf8),
                             pl.Series("assignee", assignee, dtype=pl.Utf8))


def filter_alerts(alerts: pl.DataFrame, f: AlertFilters) -> pl.DataFrame:
    """The rows of ``alerts`` (risk rows with states) that pass every filter, sorted by revenue at risk."""
    cond = pl.col("stockout_probability") >= f.min_probability
    if f.categories:
        cond &= pl.col("category").is_in(list(f.categories))
    if f.abc_classes:
        cond &= pl.col("abc_class").is_in(list(f.abc_classes))
    if f.locations:
        cond &= pl.col("store_id").is_in(list(f.locations))
    if f.status == "mine":
        cond &= (pl.col("assignee") == f.me) & (pl.col("status") != "resolved")
    elif f.status != "all":
        cond &= pl.col("status") == f.status
    needle = f.search.strip().lower()
    if needle:
        cond &= (pl.col("sku").fill_null("").str.to_lowercase().str.contains(needle, literal=True)
                 | pl.col("product").fill_null("").str.to_lowercase().str.contains(needle, literal=True))
    return alerts.filter(cond).sort("revenue_at_risk", descending=True, maintain_order=True)


@dataclass(frozen=True)
class AlertKpis:
    skus_at_risk: int  # distinct products among the listed alerts
    alerts: int  # product x location rows listed
    revenue_at_risk: dict[str, float]  # per currency, never added across currencies
    expected_stockouts: float  # sum of the probabilities: how many of the listed alerts should run out


def compute_alert_kpis(alerts: pl.DataFrame) -> AlertKpis:
    """The KPI line over the listed (filtered) alerts."""
    per_currency = (alerts.group_by("currency").agg(pl.col("revenue_at_risk").sum()).sort("currency")
                    if alerts.height else pl.DataFrame({"currency": [], "revenue_at_risk": []}))
    return AlertKpis(
        skus_at_risk=alerts.select(pl.struct("merchant_id", "product_id").n_unique()).item() if alerts.height else 0,
        alerts=alerts.height,
        revenue_at_risk=dict(zip(per_currency["currency"].to_list(), per_currency["revenue_at_risk"].to_list())),
        expected_stockouts=float(alerts["stockout_probability"].sum()) if alerts.height else 0.0,
    )


def compute_projection(alert: Mapping[str, Any], demand: pl.DataFrame) -> pl.DataFrame:
    """Projected stock of one alert's product at its location, day by day, with an 80% band.

    ``alert`` is one risk row; ``demand`` is that product x location's rows of ``compute_location_demand``
    (day, mean, sd). Stock = on hand - demand so far + open purchase orders, all assumed to arrive on the
    next delivery day. Demand days are treated as independent (variance adds up), and stock cannot go
    below zero. Returns day, expected, low_80, high_80 (units).
    """
    days = max(int(alert.get("horizon_days") or 0) + 7, 28)  # past the horizon, to show the delivery land
    rows = demand.sort("day").head(days)
    if not rows.height:
        return pl.DataFrame(schema={"day": pl.Date, "expected": pl.Float64, "low_80": pl.Float64,
                                    "high_80": pl.Float64})
    delivery, po = alert.get("next_delivery"), float(alert.get("open_po_units") or 0)
    cum_mean = rows["mean"].cum_sum()
    cum_sd = (rows["sd"].fill_null(0.0) ** 2).cum_sum().sqrt()
    arrived = rows["day"].map_elements(lambda d: po if delivery is not None and d >= delivery else 0.0,
                                       return_dtype=pl.Float64)
    level = float(alert.get("on_hand") or 0) + arrived - cum_mean
    return pl.DataFrame({
        "day": rows["day"],
        "expected": level.clip(lower_bound=0.0),
        "low_80": (level - Z_80 * cum_sd).clip(lower_bound=0.0),
        "high_80": (level + Z_80 * cum_sd).clip(lower_bound=0.0),
    })


def compute_purchase_order_history(access: DataAccess, product_id: int, store_id: int,
                                   limit: int = 12) -> pl.DataFrame:
    """The latest ``limit`` purchase orders of one product at one location, newest first: ordered_date,
    expected_date, received_date (null while open), quantity (units), lead_time_days, days_late (received
    minus promised; null while open)."""
    po = access.table("purchase_orders")
    po = po.filter((po.product_id == int(product_id)) & (po.store_id == int(store_id)))
    expr = po.order_by([po.ordered_date.desc(), po.po_id.desc()]).limit(limit).select(
        "ordered_date", "expected_date", "received_date", "quantity", "lead_time_days")
    frame = access.to_polars(expr)
    return frame.with_columns(
        (pl.col("received_date") - pl.col("expected_date")).dt.total_days().alias("days_late"),
        pl.col("lead_time_days").cast(pl.Int64), pl.col("quantity").cast(pl.Int64))


def percent(value: float | None) -> str:
    """A probability in words: "37%", "<1%" for a small non-zero one, "n/a" when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if 0 < value < 0.005:
        return "<1%"
    return f"{value:.0%}"
