"""Features of each payment at the time it was made, built through ``data.access`` (DuckDB or Spark).

Every feature is a window over the merchant's payments ordered by ``paid_ts`` and partitioned by one identity
(card, device, /24 network, email domain, customer): a range window ending at the payment, from which the rows
at the payment's own instant are taken away, so only rows strictly before the payment count. Nothing after a
payment can change its features (tests/test_fraud_model.py shifts later rows and checks). The one exception is
written in its description: distinct cards on a device count the payment's own card too (it is known at that
moment, and a new card on a busy device is the signal).

Declined attempts are payments rows (status ``declined``): they count in every velocity and burst feature.
Whether they are themselves scored is ``scoring``'s choice (they are, but never enter the review queue).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import ibis
import ibis.expr.types as ir
import polars as pl

from data.access import DataAccess

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
HOUR, DAY = WINDOWS["1h"][0], WINDOWS["24h"][0]
# Per identity, what is counted over its earlier rows besides the three velocity windows: (column, what is
# summed, how far back; None: all time, i.e. the window plus the totals before the scored slice).
HISTORIES = {
    "card": (("card_prior_payments", "n", None), ("card_declines_1h", "declined", HOUR)),
    "device": (("device_prior_payments", "n", None), ("device_declines_1h", "declined", HOUR)),
    "ip": (),
    "email": (("email_domain_payments_30d", "n", ibis.interval(days=30)),),
    "customer": (("customer_prior_payments", "n", None), ("customer_prior_amount", "amount", None)),
}


def _sums(t: ir.Table) -> dict[str, ir.Value]:
    return {"n": t.payment_id.count(), "declined": (t.status == "declined").cast("int64").sum(),
            "amount": t.amount.sum()}


def _history(t: ir.Table, key: str, *, spark: bool) -> ir.Table:
    """payment_id, paid_ts, merchant_id, the identity and, per column of ``key``, the sum over its rows strictly
    before the payment (rows where the identity is known only).

    One narrow table per identity: the engine sorts (merchant, identity, paid_ts) with a handful of columns
    rather than the whole payment row, and every window of one identity shares that sort. Strictly before is
    the range window ending at the payment less the rows at its own instant (the peers' frame, same sort)."""
    column = KEYS[key][0]
    k = t.filter(t[column].notnull())
    group = [k.merchant_id, k[column]]
    sums = _sums(k)

    def window(preceding):
        return ibis.range_window(preceding=preceding, following=0, group_by=group, order_by=k.paid_ts)

    def before(what: str, preceding) -> ir.Value:
        return sums[what].over(window(preceding)) - sums[what].over(window(0))

    cols = {f"{key}_payments_{name}": before("n", span) for name, (span, _) in WINDOWS.items()}
    cols.update({name: before(what, preceding) for name, what, preceding in HISTORIES[key]})
    if key == "device":  # distinct cards count the payment's own card (see the module doc): no peers taken away
        card = k.card_fingerprint
        for name, span in (("1h", HOUR), ("24h", DAY)):
            # Spark has no DISTINCT window aggregate; the distinct set's size is the same number there.
            cols[f"cards_per_device_{name}"] = (card.collect().over(window(span)).unique().length() if spark
                                                else card.nunique().over(window(span)))
    return k.select(k.payment_id, k.paid_ts, k.merchant_id, k[column], **cols)


def _add_earlier_totals(history: ir.Table, early: ir.Table, key: str) -> ir.Table:
    """``history`` with its all-time columns raised by the identity's totals before the scored slice's window:
    scoring new payments runs its windows over the last 30 days only, and an all-time count is the total before
    the cut (a grouped count) plus the window from the cut, which is the same number."""
    column = KEYS[key][0]
    alltime = {name: what for name, what, preceding in HISTORIES[key] if preceding is None}
    if not alltime:
        return history
    sums = _sums(early)
    totals = early.filter(early[column].notnull()).group_by(_m=early.merchant_id, _k=early[column]).aggregate(
        **{f"_carry_{name}": sums[what] for name, what in alltime.items()})
    joined = history.left_join(totals, [history.merchant_id == totals._m, history[column] == totals._k])
    return joined.select(*[joined[c] for c in history.columns if c not in alltime],
                         **{name: joined[name] + joined[f"_carry_{name}"].fill_null(0) for name in alltime})


def _mismatch(a: ir.StringColumn, b: ir.StringColumn) -> ir.IntegerValue:
    return (a.notnull() & b.notnull() & (a != b)).cast("int32")


def build_features(access: DataAccess, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   payment_ids: Iterable[int] | None = None) -> ir.Table:
    """The ibis expression behind ``compute_features``: the payments in [since, until] joined (on payment_id)
    to one history per identity. With ``since``, windows run over the rows from 30 days before it, and
    all-time histories add the totals before that (see _add_earlier_totals). With ``payment_ids``, only those
    payments, and each history holds only their identities' rows: whole (merchant, identity) partitions, so
    the windows give the same numbers from a sliver of the rows."""
    t = access.table("payments")
    spark = access.engine == "pyspark"
    if until is not None:
        t = t.filter(t.paid_ts <= ibis.literal(until, type="timestamp"))
    early = None
    if since is not None:
        cut = ibis.literal(since - LONGEST, type="timestamp")
        early, t = t.filter(t.paid_ts < cut), t.filter(t.paid_ts >= cut)
    asked = t if payment_ids is None else t.filter(access.isin(t.payment_id, [int(p) for p in payment_ids]))
    out = asked
    # Every window is per merchant as well: a card seen at another merchant is not this merchant's history, and
    # a scoped read gives the same features as an unscoped one.
    for key in KEYS:
        rows, before = t, early
        if payment_ids is not None:
            column = KEYS[key][0]
            rows = t.filter(t[column].isin(asked[column]))
            before = None if early is None else early.filter(early[column].isin(asked[column]))
        history = _history(rows, key, spark=spark)
        if since is not None:
            history = _add_earlier_totals(history, before, key)
            history = history.filter(history.paid_ts >= ibis.literal(since, type="timestamp"))
        joined = out.left_join(history, out.payment_id == history.payment_id)
        out = joined.select(*[out[c] for c in out.columns], *[history[c] for c in _history_columns(key)])
    if since is not None:
        out = out.filter(out.paid_ts >= ibis.literal(since, type="timestamp"))
    # An unknown identity has no history (0): a left join finds no row for it.
    counted = [c for key in KEYS for c in _history_columns(key)]
    out = out.mutate(**{c: out[c].fill_null(0) for c in counted})
    cols: dict[str, ir.Value] = {}
    dev_n, card_n = out.device_payments_1h, out.card_payments_1h
    dev_d, card_d = out.device_declines_1h, out.card_declines_1h
    cols["device_decline_share_1h"] = ibis.ifelse(dev_n == 0, 0.0, dev_d / dev_n.nullif(0))
    cols["card_decline_share_1h"] = ibis.ifelse(card_n == 0, 0.0, card_d / card_n.nullif(0))
    # The customer's own history: every earlier attempt of the account (guests have none).
    prior_n, prior_sum = out.customer_prior_payments, out.customer_prior_amount
    cols["first_purchase"] = (prior_n == 0).cast("int32")
    cols["is_guest"] = out.customer_id.isnull().cast("int32")
    cols["amount_vs_customer_mean"] = ibis.ifelse(
        prior_n > 0, out.amount.cast("float64") / (prior_sum.cast("float64") / prior_n).nullif(0.0), 1.0)
    cols["hour_of_day"] = out.paid_ts.hour()
    cols["card_ip_mismatch"] = _mismatch(out.card_country, out.ip_country)
    cols["card_billing_mismatch"] = _mismatch(out.card_country, out.billing_country)
    cols["ip_shipping_mismatch"] = _mismatch(out.ip_country, out.shipping_country)
    cols["billing_shipping_mismatch"] = _mismatch(out.billing_country, out.shipping_country)
    kept = [c for c in counted if c in FEATURES]
    return out.select(*[out[c] for c in IDENTITY_COLUMNS], *[out[c] for c in kept], **cols,
                      account_age_days_=out.account_age_days.fill_null(0))


def _history_columns(key: str) -> list[str]:
    names = [f"{key}_payments_{name}" for name in WINDOWS] + [name for name, _, _ in HISTORIES[key]]
    return names + (["cards_per_device_1h", "cards_per_device_24h"] if key == "device" else [])


FEATURE_NAMES = tuple(FEATURES)


def compute_features(access: DataAccess, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                     payment_ids: Iterable[int] | None = None) -> pl.DataFrame:
    """One row per payment in scope with paid_ts in [since, until] (and among ``payment_ids`` when given: the
    same rows as without it, filtered, computed from their identities' rows only): IDENTITY_COLUMNS then
    FEATURES (floats), sorted by paid_ts then payment_id. Windows see only earlier rows (see the module doc)."""
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    frame = access.to_polars(build_features(access, since=since, until=until, payment_ids=payment_ids))
    frame = frame.rename({"account_age_days_": "account_age_days"})
    return frame.select(
        *[pl.col(c) for c in IDENTITY_COLUMNS if c != "amount"],
        pl.col("amount").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in FEATURE_NAMES if c != "amount"],
    ).select(*IDENTITY_COLUMNS, *[c for c in FEATURE_NAMES if c != "amount"]).sort("paid_ts", "payment_id")
