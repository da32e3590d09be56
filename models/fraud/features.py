"""Features of each payment at the time it was made, from payments read through ``data.access`` (DuckDB or
Spark).

Every history feature counts the merchant's payments of one identity (card, device, /24 network, email domain,
customer) paid strictly before the payment: within a window ([t - span, t)) or all time. The payments are read
once (with ``since``: from 30 days before it, the longest window, plus each identity's totals before that,
summed in the warehouse) and the windows are counted in memory by ``windows`` with sorted arrays, exactly (a
range window in the warehouse over an email domain, a third of all payments, cost seconds). Nothing after a
payment can change its features (tests/test_fraud_model.py shifts later rows and checks); tests keep the
warehouse's own window functions as the reference. The one exception is written in its description: distinct
cards on a device count the payment's own card too (it is known at that moment, and a new card on a busy
device is the signal).

Declined attempts are payments rows (status ``declined``): they count in every velocity and burst feature.
Whether they are themselves scored is ``scoring``'s choice (they are, but never enter the review queue).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl

from data.access import DataAccess
from models.fraud import windows

IDENTITY_COLUMNS = ("merchant_id", "payment_id", "order_id", "customer_id", "paid_ts", "amount", "status",
                    "auth_result", "card_fingerprint", "device_id", "ip_prefix", "email_domain", "card_country",
                    "billing_country", "ip_country", "shipping_country")

# Identity -> (column, words for a reason sentence)
KEYS = {"card": ("card_fingerprint", "this card"), "device": ("device_id", "this device"),
        "ip": ("ip_prefix", "this network (/24)"), "email": ("email_domain", "this email domain"),
        "customer": ("customer_id", "this customer")}
WINDOWS = {"10m": (ibis.interval(minutes=10), "10 minutes"), "1h": (ibis.interval(hours=1), "hour"),
           "24h": (ibis.interval(hours=24), "24 hours")}


def _velocity_words() -> dict[str, str]:
    out = {}
    for key, (_, who) in KEYS.items():
        for win, (_, span) in WINDOWS.items():
            out[f"{key}_payments_{win}"] = f"Payment attempts from {who} in the {span} before (count)"
    return out


FEATURES: dict[str, str] = {
    **_velocity_words(),
    "amount": "Amount of the payment (merchant currency)",
    "amount_vs_customer_mean": "Amount divided by the customer's mean earlier payment (1 when no history)",
    "customer_prior_payments": "Earlier payment attempts by this customer (count, all time)",
    "first_purchase": "1 when the customer (or guest) has no earlier payment, else 0",
    "is_guest": "1 for a guest checkout (no customer account), else 0",
    "hour_of_day": "Hour of the day the payment was made (0-23, merchant local time)",
    "account_age_days": "Days since the customer's account was opened (0 for guests)",
    "card_ip_mismatch": "1 when the card's issuing country differs from the IP's country",
    "card_billing_mismatch": "1 when the card's issuing country differs from the billing country",
    "ip_shipping_mismatch": "1 when the IP's country differs from the shipping country",
    "billing_shipping_mismatch": "1 when the billing country differs from the shipping country",
    "cards_per_device_1h": "Distinct cards used on this device in the hour up to this payment (count)",
    "cards_per_device_24h": "Distinct cards used on this device in the 24 hours up to this payment (count)",
    "device_decline_share_1h": "Share of this device's attempts in the hour before that were declined (0-1)",
    "card_decline_share_1h": "Share of this card's attempts in the hour before that were declined (0-1)",
    "device_declines_1h": "Declined attempts from this device in the hour before (count)",
    "card_prior_payments": "Earlier payment attempts with this card (count, all time)",
    "device_prior_payments": "Earlier payment attempts from this device (count, all time)",
    "email_domain_payments_30d": "Payments from this email domain in the 30 days before (count; throwaway "
                                 "domains are rare)",
}


LONGEST = dt.timedelta(days=30)  # the longest bounded window (email domain); longer histories are all-time
MICROS = {"10m": 600_000_000, "1h": 3_600_000_000, "24h": 86_400_000_000}  # WINDOWS in microseconds
HOUR, DAY, MONTH = MICROS["1h"], MICROS["24h"], 30 * MICROS["24h"]
# Per identity, what is counted over its earlier rows besides the three velocity windows: (column, what is
# summed, how far back in microseconds; None: all time, i.e. the window plus the totals before the rows read).
HISTORIES = {
    "card": (("card_prior_payments", "n", None), ("card_declines_1h", "declined", HOUR)),
    "device": (("device_prior_payments", "n", None), ("device_declines_1h", "declined", HOUR)),
    "ip": (),
    "email": (("email_domain_payments_30d", "n", MONTH),),
    "customer": (("customer_prior_payments", "n", None), ("customer_prior_amount", "amount", None)),
}
READ_COLUMNS = (*IDENTITY_COLUMNS, "account_age_days")
CARRIED = tuple(key for key, histories in HISTORIES.items() if any(span is None for _, _, span in histories))


def _mismatch(a: str, b: str) -> pl.Expr:
    return (pl.col(a).is_not_null() & pl.col(b).is_not_null() & (pl.col(a) != pl.col(b))).cast(pl.Float64)


def _scale(dtype: pl.DataType) -> int:
    """Decimal places of the smallest unit amounts are summed in: the decimal type's, else micro-units (a
    float column, not the warehouse's type)."""
    return dtype.scale if isinstance(dtype, pl.Decimal) else 6


def _smallest_units(amount: pl.Series) -> np.ndarray:
    """Amounts as integers in the smallest unit of their type (``_scale``): exact sums."""
    if isinstance(amount.dtype, pl.Decimal):
        return amount.to_physical().fill_null(0).cast(pl.Int64).to_numpy()
    return (amount.cast(pl.Float64).fill_null(0.0) * 10**_scale(amount.dtype)).round().cast(pl.Int64).to_numpy()


def _earlier_totals(access: DataAccess, early: ir.Table, late: ir.Table, key: str, scale: int) -> pl.DataFrame:
    """merchant_id, the identity and its all-time sums over ``early`` (payments before the rows read), for the
    identities ``late`` holds: an all-time history is these totals plus the rows read, the same number."""
    column = KEYS[key][0]
    wanted = {what for _, what, span in HISTORIES[key] if span is None}
    k = early.filter(early[column].notnull() & early[column].isin(late[column]))
    sums = {"n": k.payment_id.count()}
    if "amount" in wanted:
        sums["amount"] = k.amount.sum()
    totals = access.to_polars(k.group_by(k.merchant_id, k[column]).aggregate(**sums))
    if "amount" in wanted:
        summed = totals["amount"]
        if isinstance(summed.dtype, pl.Decimal):  # the warehouse's sum keeps the scale; make sure of it
            summed = summed.cast(pl.Decimal(38, scale))
        totals = totals.with_columns(pl.Series("amount", _smallest_units(summed)))
    return totals


def _histories(rows: pl.DataFrame) -> dict[str, np.ndarray]:
    """Every history column (_history_columns) per row of ``rows``: the identities on two threads (their sorts
    and searches run outside the interpreter lock)."""
    micros = rows["paid_ts"].cast(pl.Datetime("us")).to_physical().to_numpy()
    instants = windows.Instants.of(micros, sorted({*MICROS.values(), HOUR, MONTH}))
    amount = _smallest_units(rows["amount"])
    values = {"n": None, "amount": amount,
              "declined": (rows["status"] == "declined").fill_null(False).cast(pl.Int64).to_numpy()}

    def one(key: str) -> dict[str, np.ndarray]:
        identity = windows.Identity(rows, KEYS[key][0], instants)
        out = {f"{key}_payments_{name}": identity.before(None, span) for name, span in MICROS.items()}
        for name, what, span in HISTORIES[key]:
            out[name] = identity.before(values[what], span)
        if key == "device":  # distinct cards count the payment's own card (see the module doc)
            out["cards_per_device_1h"] = identity.distinct_in_frame("card_fingerprint", rows, HOUR)
            out["cards_per_device_24h"] = identity.distinct_in_frame("card_fingerprint", rows, DAY)
        return out

    with ThreadPoolExecutor(2) as pool:  # the device (two distinct counts) first: the longest
        parts = list(pool.map(one, ["device", "card", "customer", "ip", "email"]))
    return {name: value for part in parts for name, value in part.items()}


def _add_carried(frame: pl.DataFrame, carried: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """``frame``'s all-time histories raised by the identities' totals before the rows read."""
    for key, totals in carried.items():
        column = KEYS[key][0]
        alltime = {name: what for name, what, span in HISTORIES[key] if span is None}
        renamed = totals.rename({what: f"_carry_{name}" for name, what in alltime.items()})
        frame = frame.join(renamed, on=["merchant_id", column], how="left", maintain_order="left").with_columns(
            **{name: pl.col(name) + pl.col(f"_carry_{name}").fill_null(0) for name in alltime}
        ).drop([f"_carry_{name}" for name in alltime])
    return frame


def _history_columns(key: str) -> list[str]:
    names = [f"{key}_payments_{name}" for name in WINDOWS] + [name for name, _, _ in HISTORIES[key]]
    return names + (["cards_per_device_1h", "cards_per_device_24h"] if key == "device" else [])


FEATURE_NAMES = tuple(FEATURES)


def compute_features(access: DataAccess, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     payment_ids: Iterable[int] | None = None) -> pl.DataFrame:
    """One row per payment in scope with paid_ts in [since, until] (and among ``payment_ids`` when given: those
    rows of the same computation): IDENTITY_COLUMNS then FEATURES (floats), sorted by paid_ts then payment_id.
    Windows see only earlier rows (see the module doc).

    The payments are read through ``data.access`` (DuckDB or Spark): with ``since``, the rows from 30 days
    before it (the longest window) and, per all-time history, the identities' totals before that; without it,
    every row. The windows are then counted in memory (``windows``)."""
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    t = access.table("payments")
    if until is not None:
        t = t.filter(t.paid_ts <= ibis.literal(until, type="timestamp"))
    if since is not None:
        cut = ibis.literal(since - LONGEST, type="timestamp")
        early, t = t.filter(t.paid_ts < cut), t.filter(t.paid_ts >= cut)
    rows = access.to_polars(t.select(*READ_COLUMNS))
    scale = _scale(rows["amount"].dtype)
    with ThreadPoolExecutor(1) as pool:  # the warehouse sums the earlier totals while the windows are counted
        pending = None
        if since is not None and rows.height:
            scored = t.filter(t.paid_ts >= ibis.literal(since, type="timestamp"))
            pending = pool.submit(lambda: {key: _earlier_totals(access, early, scored, key, scale) for key in CARRIED})
        frame = rows.with_columns(**{k: pl.Series(k, v, dtype=pl.Float64) for k, v in _histories(rows).items()})
        if since is not None:
            frame = frame.filter(pl.col("paid_ts") >= since)
        if payment_ids is not None:
            frame = frame.filter(pl.col("payment_id").is_in([int(p) for p in payment_ids]))
        if pending is not None:
            frame = _add_carried(frame, pending.result())
    prior_n = pl.col("customer_prior_payments")
    derived = {
        "device_decline_share_1h": pl.when(pl.col("device_payments_1h") == 0).then(0.0)
        .otherwise(pl.col("device_declines_1h") / pl.col("device_payments_1h")),
        "card_decline_share_1h": pl.when(pl.col("card_payments_1h") == 0).then(0.0)
        .otherwise(pl.col("card_declines_1h") / pl.col("card_payments_1h")),
        "first_purchase": (prior_n == 0).cast(pl.Float64),
        "is_guest": pl.col("customer_id").is_null().cast(pl.Float64),
        "amount_vs_customer_mean": pl.Series(_against_mean(frame, scale)),
        "hour_of_day": pl.col("paid_ts").dt.hour().cast(pl.Float64),
        "card_ip_mismatch": _mismatch("card_country", "ip_country"),
        "card_billing_mismatch": _mismatch("card_country", "billing_country"),
        "ip_shipping_mismatch": _mismatch("ip_country", "shipping_country"),
        "billing_shipping_mismatch": _mismatch("billing_country", "shipping_country"),
        "account_age_days": pl.col("account_age_days").fill_null(0).cast(pl.Float64),
    }
    frame = frame.with_columns(**derived)
    return frame.select(
        *[pl.col(c) for c in IDENTITY_COLUMNS if c != "amount"],
        pl.col("amount").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in FEATURE_NAMES if c != "amount"],
    ).select(*IDENTITY_COLUMNS, *[c for c in FEATURE_NAMES if c != "amount"]).sort("paid_ts", "payment_id")


def _against_mean(frame: pl.DataFrame, scale: int) -> np.ndarray:
    """Amount / the customer's mean earlier amount: 1 without history, 0 when the earlier amounts sum to 0.
    In numpy, one division at a time, as the warehouse divides (polars may multiply by a reciprocal)."""
    n = frame["customer_prior_payments"].to_numpy()
    total = frame["customer_prior_amount"].to_numpy() / float(10**scale)  # smallest units -> currency units
    amount = frame["amount"].cast(pl.Float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        ratio = amount / mean
    return np.where(n <= 0, 1.0, np.where(mean == 0, 0.0, ratio))
