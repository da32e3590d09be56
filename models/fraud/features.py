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


SAME_INSTANT = {"n": ("card", "device", "ip", "email", "customer"), "declined": ("card", "device"),
                "amount": ("customer",)}


def _same_instant(t: ir.Table) -> ir.Table:
    """``t`` with, per identity, the count (declines, amounts) of its rows at each payment's own instant: computed
    once here, then taken away from every window of that identity (a subquery, so each is computed once)."""
    parts = {"n": t.payment_id.count(), "declined": (t.status == "declined").cast("int64").sum(),
             "amount": t.amount.sum()}
    cols = {}
    for what, keys in SAME_INSTANT.items():
        for key in keys:
            w = ibis.range_window(preceding=0, following=0, group_by=[t.merchant_id, t[KEYS[key][0]]],
                                  order_by=t.paid_ts)
            cols[f"_same_{what}_{key}"] = parts[what].over(w)
    return t.mutate(**cols)


LONGEST = dt.timedelta(days=30)  # the longest bounded window (email domain); longer histories are all-time
CARRIED = (("n", "card"), ("n", "device"), ("n", "customer"), ("amount", "customer"))


def _with_earlier_totals(t: ir.Table, cut: dt.datetime) -> ir.Table:
    """The rows from ``cut`` on, each with its identities' counts (and the customer's amount) before ``cut``.

    Scoring new payments then runs its windows over the last 30 days only: an all-time history is the total
    before the cut (a grouped count) plus the window from the cut, which is the same number."""
    cut_ts = ibis.literal(cut, type="timestamp")
    early, late = t.filter(t.paid_ts < cut_ts), t.filter(t.paid_ts >= cut_ts)
    for what, key in CARRIED:
        column = KEYS[key][0]
        value = early.payment_id.count() if what == "n" else early.amount.sum()
        name = f"_carry_{what}_{key}"
        totals = early.filter(early[column].notnull()).group_by(
            _m=early.merchant_id, _k=early[column]).aggregate(**{name: value})
        late = late.left_join(totals, [late.merchant_id == totals._m, late[column] == totals._k]).select(
            *[late[c] for c in late.columns], totals[name])
    return late.mutate(**{f"_carry_{what}_{key}": late[f"_carry_{what}_{key}"].fill_null(0)
                          for what, key in CARRIED})


class _Windows:
    """Range windows per (merchant, identity) over paid_ts holding only rows before the payment."""

    def __init__(self, t: ir.Table, key: str):
        self.t, self.name = t, key
        self.key = [t.merchant_id, t[KEYS[key][0]]]
        self.null = t[KEYS[key][0]].isnull()

    def before(self, what: str, value: ir.Value, preceding) -> ir.Value:
        """``value`` (the aggregate named ``what`` in SAME_INSTANT) over [paid_ts - preceding, paid_ts);
        ``preceding`` None: all earlier rows. 0 when the identity is unknown."""
        upto = ibis.range_window(preceding=preceding, following=0, group_by=self.key, order_by=self.t.paid_ts)
        counted = value.over(upto) - self.t[f"_same_{what}_{self.name}"]
        if preceding is None:  # rows before the scored slice's window (``since`` - 30 days), counted apart
            counted = counted + self.t[f"_carry_{what}_{self.name}"]
        return ibis.ifelse(self.null, 0, counted)


def _mismatch(a: ir.StringColumn, b: ir.StringColumn) -> ir.IntegerValue:
    return (a.notnull() & b.notnull() & (a != b)).cast("int32")


def build_features(access: DataAccess, *, since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> ir.Table:
    """The ibis expression behind ``compute_features``. With ``since``, windows run over the rows from 30 days
    before it, and all-time histories add the totals before that (see _with_earlier_totals)."""
    t = access.table("payments")
    spark = access.engine == "pyspark"
    if until is not None:
        t = t.filter(t.paid_ts <= ibis.literal(until, type="timestamp"))
    if since is not None:
        t = _with_earlier_totals(t, since - LONGEST)
    else:
        t = t.mutate(**{f"_carry_{what}_{key}": ibis.literal(0, type="int64") if what == "n" else
                        ibis.literal(0, type=t.amount.type()) for what, key in CARRIED})
    t = _same_instant(t)
    declined = (t.status == "declined").cast("int64")
    cols: dict[str, ir.Value] = {}
    # Every window is per merchant as well: a card seen at another merchant is not this merchant's history, and
    # a scoped read gives the same features as an unscoped one.
    win = {key: _Windows(t, key) for key in KEYS}
    n = t.payment_id.count()
    for key in KEYS:
        for name, (span, _) in WINDOWS.items():
            cols[f"{key}_payments_{name}"] = win[key].before("n", n, span)
    cols["card_prior_payments"] = win["card"].before("n", n, None)
    cols["device_prior_payments"] = win["device"].before("n", n, None)
    cols["email_domain_payments_30d"] = win["email"].before("n", n, ibis.interval(days=30))
    hour = WINDOWS["1h"][0]
    dev_n, card_n = cols["device_payments_1h"], cols["card_payments_1h"]
    dev_d = win["device"].before("declined", declined.sum(), hour)
    card_d = win["card"].before("declined", declined.sum(), hour)
    cols["device_declines_1h"] = dev_d
    cols["device_decline_share_1h"] = ibis.ifelse(dev_n == 0, 0.0, dev_d / dev_n.nullif(0))
    cols["card_decline_share_1h"] = ibis.ifelse(card_n == 0, 0.0, card_d / card_n.nullif(0))
    dev, card = t.device_id, t.card_fingerprint
    for name in ("1h", "24h"):
        upto = ibis.range_window(preceding=WINDOWS[name][0], following=0, group_by=[t.merchant_id, dev],
                                 order_by=t.paid_ts)
        # Spark has no DISTINCT window aggregate; the distinct set's size is the same number there.
        distinct = (card.collect().over(upto).unique().length() if spark else card.nunique().over(upto))
        cols[f"cards_per_device_{name}"] = ibis.ifelse(dev.isnull(), 0, distinct)
    # The customer's own history: every earlier attempt of the account (guests have none).
    cust = win["customer"]
    prior_n = cust.before("n", n, None)
    prior_sum = cust.before("amount", t.amount.sum(), None)
    cols["customer_prior_payments"] = prior_n
    cols["first_purchase"] = (prior_n == 0).cast("int32")
    cols["is_guest"] = t.customer_id.isnull().cast("int32")
    cols["amount_vs_customer_mean"] = ibis.ifelse(
        prior_n > 0, t.amount.cast("float64") / (prior_sum.cast("float64") / prior_n).nullif(0.0), 1.0)
    cols["hour_of_day"] = t.paid_ts.hour()
    cols["card_ip_mismatch"] = _mismatch(t.card_country, t.ip_country)
    cols["card_billing_mismatch"] = _mismatch(t.card_country, t.billing_country)
    cols["ip_shipping_mismatch"] = _mismatch(t.ip_country, t.shipping_country)
    cols["billing_shipping_mismatch"] = _mismatch(t.billing_country, t.shipping_country)
    out = t.select(*[t[c] for c in IDENTITY_COLUMNS], **cols,
                   account_age_days_=t.account_age_days.fill_null(0))
    if since is not None:
        out = out.filter(out.paid_ts >= ibis.literal(since, type="timestamp"))
    return out


FEATURE_NAMES = tuple(FEATURES)


def compute_features(access: DataAccess, *, since: dt.datetime | None = None,
                     until: dt.datetime | None = None) -> pl.DataFrame:
    """One row per payment in scope with paid_ts in [since, until]: IDENTITY_COLUMNS then FEATURES (floats),
    sorted by paid_ts then payment_id. Windows see only earlier rows (see the module doc)."""
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    frame = access.to_polars(build_features(access, since=since, until=until))
    frame = frame.rename({"account_age_days_": "account_age_days"})
    return frame.select(
        *[pl.col(c) for c in IDENTITY_COLUMNS if c != "amount"],
        pl.col("amount").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in FEATURE_NAMES if c != "amount"],
    ).select(*IDENTITY_COLUMNS, *[c for c in FEATURE_NAMES if c != "amount"]).sort("paid_ts", "payment_id")
