"""Stock-out risk for every SKU at every location that stocks it (``compute_stockout_risk``).

The model, per SKU-location, as of the end of day ``as_of`` (on hand h = that day's closing stock):

- Demand over the next t days, D_t: the demand forecast's daily negative binomials summed by moments
  (``demand_sums``), plus the forecast's own level uncertainty (``LEVEL_CV``, ``RATE_DAYS``). Beyond the
  forecast's last day, its last 28 days' mean repeats.
- The next replenishment arrives on day A (counted from as_of; stock received on a day is on the shelf
  that morning). With an open purchase order (placed on or before as_of, not received by then): the first
  one's promised date plus this supplier's learned lateness, given that it had not come by as_of. Without
  one: an order placed today, arriving after the supplier's learned lead time (``leadtime``).
- A stock-out is a day that closes with nothing on hand, so it happens before the replenishment when
  D_{A-1} >= h: P(stock-out) = sum_a P(A = a) P(D_{a-1} >= h). Expected units lost before it arrives,
  sum_a P(A = a) E[(D_{a-1} - h)+], times the unit price is the revenue at risk.
- Reorder point for service level s: the smallest stock r with P(D_{L-1} >= r) <= 1 - s for an order
  placed now (L: the learned lead time, its spread included by the law of total variance), from the
  moment-matched negative binomial of D_{L-1}. Safety stock is r minus the mean lead-time demand.
  When on hand plus open orders is below r, the suggested order brings it up to r plus 28 days of demand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from data.access import DataAccess
from models.stockout import classes, inputs, leadtime, reasons
from models.stockout import demand_sums as ds

DAYS = leadtime.MAX_LEAD  # days of demand modelled ahead of as_of
COVER_DAYS = 28  # daily_demand is the mean over this many days; an order covers this many days past the ROP
HISTORY_WEEKS = 13  # weeks of sales behind ABC and XYZ
MIN_ARRIVAL_MASS = 1e-4  # arrival days less likely than this are dropped (the rest renormalised)
# A forecast's error persists from day to day (a level set a little high stays high), so demand over several
# days varies more than independent days would. The sum's variance gets rel_var x its mean² on top, with
# rel_var = LEVEL_CV² + (1/mu + 1/k) / RATE_DAYS: a rate known about as well as from RATE_DAYS days of its
# own history (a SKU selling 0.1 a day is far less certain than one selling 10), plus a floor for everything
# else. Chosen by the Brier score of "demand over 7, 14, 21 days >= x" on the demo warehouse's holdouts at three
# cutoffs (4 merchants): without it rare highs and lows came twice as often as said.
LEVEL_CV = 0.1
RATE_DAYS = 28

COLUMNS = ("merchant_id", "product_id", "sku", "product", "category", "store_id", "location", "on_hand",
           "daily_demand", "days_of_cover", "open_po_units", "next_delivery", "supplier_lead_days", "lead_time_sd",
           "supplier_late_days", "horizon_days", "stockout_probability", "reorder_point", "order_quantity",
           "abc_class", "xyz_class", "unit_price", "revenue_at_risk", "currency", "reason", "alert_key")


def _check_service_level(service_level: float) -> None:
    number = isinstance(service_level, (int, float)) and not isinstance(service_level, bool)
    ok = number and 0.5 < service_level <= 0.999
    if not ok:
        raise ValueError(f"service_level must be a number above 0.5 and at most 0.999 (e.g. 0.95 for 95%), "
                         f"got {service_level!r}")


DEMAND_COLUMNS = ("product_id", "store_id", "day", "mean", "dispersion")


def _check_location_demand(location_demand: pl.DataFrame) -> None:
    if not isinstance(location_demand, pl.DataFrame):
        raise ValueError("location_demand must be the polars frame of "
                         f"outputs.compute_location_demand(payload, days=90), got {type(location_demand).__name__}")
    missing = [c for c in DEMAND_COLUMNS if c not in location_demand.columns]
    if missing:
        raise ValueError(f"location_demand lacks the column(s) {', '.join(missing)}: pass "
                         "outputs.compute_location_demand(payload, days=90) of the merchant(s) in scope")


def _demand_matrix(location_demand: pl.DataFrame, keys: pl.DataFrame, as_of: dt.date) -> tuple[np.ndarray, ...]:
    """Daily mean (N x DAYS) and size k (N x 1) for the rows of ``keys`` (product_id, store_id), days 1..DAYS
    after as_of; a row without a forecast has zero demand. Returns (mu, k, has_forecast)."""
    n = keys.height
    mu = np.full((n, DAYS), np.nan)
    k = np.ones((n, 1))
    idx = keys.select("product_id", "store_id").with_row_index("_row")
    j = location_demand.filter(pl.col("day") > as_of).select(
        pl.col("product_id").cast(pl.Int64), pl.col("store_id").cast(pl.Int64), "day", "mean", "dispersion").join(
        idx, on=["product_id", "store_id"], how="inner")
    has = np.zeros(n, dtype=bool)
    if j.height:
        # the forecast's first day after as_of is day 1 (a forecast made before as_of is used from as_of on)
        start = j["day"].min()
        j = j.with_columns((pl.col("day") - start).dt.total_days().alias("_col")).filter(pl.col("_col") < DAYS)
        rows, cols = j["_row"].to_numpy().astype(np.int64), j["_col"].to_numpy().astype(np.int64)
        mu[rows, cols] = np.maximum(j["mean"].fill_null(0.0).to_numpy(), 0.0)
        k[rows, 0] = np.maximum(j["dispersion"].fill_null(1.0).to_numpy(), 1e-3)
        has[rows] = True
    # days past the forecast: the mean of its last 28 days
    seen = ~np.isnan(mu)
    last = np.where(seen.any(axis=1), DAYS - 1 - np.argmax(seen[:, ::-1], axis=1), -1)
    window = seen & (np.arange(DAYS)[None, :] > (last - COVER_DAYS)[:, None])
    tail = np.where(window, np.nan_to_num(mu), 0.0).sum(axis=1) / np.maximum(window.sum(axis=1), 1)
    mu = np.where(seen, mu, tail[:, None])
    return np.nan_to_num(mu), k, has


def _arrival_pmf(due_in: np.ndarray, has_open: np.ndarray, sup: leadtime.SupplierModel) -> np.ndarray:
    """P(A = a), a = 0..DAYS (column 0 unused): the day the next replenishment arrives, counted from as_of."""
    n = len(due_in)
    pmf = np.zeros((n, DAYS + 1))
    # no open order: an order placed today (after close) is on the shelf on day max(lead, 1)
    lead_days = np.clip(np.arange(leadtime.MAX_LEAD + 1), 1, DAYS)
    late_days = np.arange(leadtime.LATE_MIN, leadtime.LATE_MAX + 1)
    arrive = due_in[:, None] + late_days[None, :]
    mass = np.where(arrive >= 1, sup.late_pmf, 0.0)
    total = mass.sum(axis=1)
    # an order overdue beyond anything this supplier has done: it may come like a new order would
    use_open = has_open & (total > 1e-9)
    mass = mass / np.where(total > 1e-9, total, 1.0)[:, None]
    o = np.flatnonzero(use_open)
    np.add.at(pmf, (np.repeat(o, arrive.shape[1]), np.clip(arrive[o], 1, DAYS).ravel()), mass[o].ravel())
    fresh = np.flatnonzero(~use_open)
    np.add.at(pmf, (np.repeat(fresh, len(lead_days)), np.tile(lead_days, len(fresh))), sup.lead_pmf[fresh].ravel())
    # days under 1 in 10,000 carry 0.05% of the mass on average but 40% of the work of the sums below
    pmf[pmf < MIN_ARRIVAL_MASS] = 0.0
    return pmf / np.maximum(pmf.sum(axis=1, keepdims=True), 1e-12)


def _mixture(pmf: np.ndarray, h: np.ndarray, m_cum: np.ndarray, v_cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sum_a P(A = a) P(D_{a-1} >= h) and sum_a P(A = a) E[(D_{a-1} - h)+], evaluated only where P(A = a) > 0."""
    rows, a = np.nonzero(pmf[:, 1:] > 1e-12)
    a = a + 1
    w = pmf[rows, a]
    m, v, hh = m_cum[rows, a - 1], v_cum[rows, a - 1], h[rows]
    p = np.bincount(rows, weights=w * ds.prob_at_least(hh, m, v), minlength=pmf.shape[0])
    lost = np.bincount(rows, weights=w * ds.expected_shortfall(hh, m, v), minlength=pmf.shape[0])
    return np.clip(p, 0.0, 1.0), lost


def _reorder_point(lead_pmf: np.ndarray, m_cum: np.ndarray, v_cum: np.ndarray, service_level: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Reorder point (units) and mean lead-time demand, for an order placed now (see module doc)."""
    exposure = np.clip(np.arange(lead_pmf.shape[1]), 1, DAYS) - 1  # an order arriving on day l: days 1..l-1
    m_l, v_l = m_cum[:, exposure], v_cum[:, exposure]
    mean = (lead_pmf * m_l).sum(axis=1)
    var = np.maximum((lead_pmf * (v_l + m_l ** 2)).sum(axis=1) - mean ** 2, mean)
    rop = np.where(mean > 0, ds.quantile(service_level, mean, var) + 1.0, 0.0)
    return rop, mean


def compute_stockout_risk(access: DataAccess, location_demand: pl.DataFrame, *, service_level: float = 0.95,
                          as_of: dt.date | None = None) -> pl.DataFrame:
    """One row per product x location with stock recorded on ``as_of``, largest revenue at risk first.

    ``location_demand``: ``outputs.compute_location_demand(payload, days=90)`` of the merchant(s) in scope
    (concatenated for several). Columns (``COLUMNS``): see the README section "How stock-out risk is
    computed"; units are units, money is the merchant's currency, days are days.
    """
    _check_service_level(service_level)
    _check_location_demand(location_demand)
    if as_of is None:
        as_of = inputs.last_stock_day(access)
    if as_of is None:
        return _empty()
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not isinstance(as_of, dt.date):
        raise ValueError(f"as_of must be a date (datetime.date), got {as_of!r}")
    pos = inputs.load_positions(access, as_of).sort("merchant_id", "product_id", "store_id")
    if pos.is_empty():
        return _empty()
    orders = inputs.load_purchase_orders(access, as_of)
    sup = leadtime.learn_suppliers(orders, pos.select("product_id", "merchant_id"))
    sup_row = pos.join(pl.DataFrame({"product_id": sup.product_ids, "_s": np.arange(len(sup.product_ids))}),
                       on="product_id", how="left", maintain_order="left")["_s"].to_numpy()
    open_po = orders.filter(pl.col("received_date").is_null()).group_by("product_id", "store_id").agg(
        pl.col("quantity").sum().alias("open_po_units"), pl.col("expected_date").min().alias("next_delivery"))
    pos = pos.join(open_po, on=["product_id", "store_id"], how="left", maintain_order="left").with_columns(
        pl.col("open_po_units").fill_null(0).cast(pl.Int64))

    mu, k, _ = _demand_matrix(location_demand, pos, as_of)
    m_cum, v_cum = ds.cumulative(mu, k)
    daily_mean = np.maximum(m_cum[:, COVER_DAYS] / COVER_DAYS, 1e-6)
    rel_var = LEVEL_CV ** 2 + (1.0 / daily_mean + 1.0 / k[:, 0]) / RATE_DAYS
    v_cum = v_cum + rel_var[:, None] * m_cum ** 2
    h = np.maximum(pos["on_hand"].to_numpy().astype(float), 0.0)
    has_open = pos["next_delivery"].is_not_null().to_numpy()
    due_in = np.where(has_open, (pos["next_delivery"].fill_null(as_of) - as_of).dt.total_days().to_numpy(), 0)
    sub = _subset(sup, sup_row)
    pmf = _arrival_pmf(due_in.astype(np.int64), has_open, sub)
    prob, lost = _mixture(pmf, h, m_cum, v_cum)
    horizon = np.argmax(np.cumsum(pmf, axis=1) >= 0.5, axis=1)
    rop, _ = _reorder_point(sub.lead_pmf, m_cum, v_cum, service_level)
    daily = m_cum[:, COVER_DAYS] / COVER_DAYS
    position = h + pos["open_po_units"].to_numpy()
    order_qty = np.where(position < rop, np.ceil(rop + m_cum[:, COVER_DAYS] - position), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(daily > 0, h / daily, np.nan)

    weekly = inputs.load_weekly_sales(access, as_of, HISTORY_WEEKS)
    price = pos.select("merchant_id", "product_id", "unit_price").unique("product_id")
    revenue = weekly.group_by("product_id").agg(pl.col("units").sum()).join(price, on="product_id", how="right") \
        .select("merchant_id", "product_id", (pl.col("units").fill_null(0.0) * pl.col("unit_price")).alias("revenue"))
    abc = classes.compute_abc(revenue).select("product_id", "abc_class")
    xyz = classes.compute_xyz(weekly, HISTORY_WEEKS).select("product_id", "store_id", "xyz_class")

    out = pos.with_columns(
        pl.Series("daily_demand", daily), pl.Series("days_of_cover", cover).fill_nan(None),
        pl.Series("supplier_lead_days", sub.lead_median), pl.Series("lead_time_sd", sub.lead_sd),
        pl.Series("supplier_late_days", sub.late_mean).fill_nan(None), pl.Series("_orders", sub.orders),
        pl.Series("horizon_days", horizon.astype(np.int64)),
        pl.Series("stockout_probability", np.where(h <= 0, 1.0, prob)),
        pl.Series("reorder_point", rop.astype(np.int64)), pl.Series("order_quantity", order_qty.astype(np.int64)),
        pl.Series("_lost", lost),
        pl.Series("_due_in", [int(d) if o else None for d, o in zip(due_in, has_open, strict=True)], dtype=pl.Int64))
    out = out.join(abc, on="product_id", how="left", maintain_order="left").join(
        xyz, on=["product_id", "store_id"], how="left", maintain_order="left").with_columns(
        pl.col("abc_class").fill_null("C"), pl.col("xyz_class").fill_null("Z"),
        (pl.col("_lost") * pl.col("unit_price")).round(2).alias("revenue_at_risk"),
        pl.format("product:{}@store:{}", "product_id", "store_id").alias("alert_key"))
    out = out.with_columns(pl.Series("reason", [
        reasons.describe(r["on_hand"], r["days_of_cover"], r["_due_in"], r["supplier_lead_days"],
                         r["supplier_late_days"], int(r["_orders"]))
        for r in out.select("on_hand", "days_of_cover", "_due_in", "supplier_lead_days", "supplier_late_days",
                            "_orders").iter_rows(named=True)], dtype=pl.Utf8))
    out = out.sort(["revenue_at_risk", "stockout_probability", "product_id", "store_id"],
                   descending=[True, True, False, False])
    return out.select(COLUMNS)


def _subset(sup: leadtime.SupplierModel, rows: np.ndarray) -> leadtime.SupplierModel:
    return leadtime.SupplierModel(sup.product_ids[rows], sup.lead_pmf[rows], sup.late_pmf[rows], sup.lead_median[rows],
                                  sup.lead_sd[rows], sup.late_mean[rows], sup.orders[rows])


def _empty() -> pl.DataFrame:
    schema = {"merchant_id": pl.Int64, "product_id": pl.Int64, "sku": pl.Utf8, "product": pl.Utf8,
              "category": pl.Utf8, "store_id": pl.Int64, "location": pl.Utf8, "on_hand": pl.Int64,
              "daily_demand": pl.Float64, "days_of_cover": pl.Float64, "open_po_units": pl.Int64,
              "next_delivery": pl.Date, "supplier_lead_days": pl.Float64, "lead_time_sd": pl.Float64,
              "supplier_late_days": pl.Float64, "horizon_days": pl.Int64, "stockout_probability": pl.Float64,
              "reorder_point": pl.Int64, "order_quantity": pl.Int64, "abc_class": pl.Utf8, "xyz_class": pl.Utf8,
              "unit_price": pl.Float64, "revenue_at_risk": pl.Float64, "currency": pl.Utf8, "reason": pl.Utf8,
              "alert_key": pl.Utf8}
    return pl.DataFrame(schema=schema)
