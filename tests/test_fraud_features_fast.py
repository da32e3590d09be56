"""The fast fraud features and scoring give exactly what the previous implementation gave.

The features were one wide query (every payment row sorted ten times, once per identity window and once per
same-instant count); now each identity's windows run on a narrow table joined back on payment_id. Scoring now
splits the anomaly detector's rows among threads and writes reasons without a Python list per payment. The
previous implementation is kept below verbatim as the reference (``_reference_*``), and the tiny warehouse's
features and scores must be identical to it: all payments, one merchant, and from a date (the carried totals).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models.fraud import outputs, train
from models.fraud.features import FEATURE_NAMES, IDENTITY_COLUMNS, KEYS, WINDOWS, compute_features
from models.fraud.reasons import compute_reasons
from models.fraud.scoring import score_features, score_payments

# --- the previous implementation (models/fraud/features.py before the narrow histories), kept as reference ---
SAME_INSTANT = {"n": ("card", "device", "ip", "email", "customer"), "declined": ("card", "device"),
                "amount": ("customer",)}
LONGEST = dt.timedelta(days=30)
CARRIED = (("n", "card"), ("n", "device"), ("n", "customer"), ("amount", "customer"))


def _same_instant(t: ir.Table) -> ir.Table:
    parts = {"n": t.payment_id.count(), "declined": (t.status == "declined").cast("int64").sum(),
             "amount": t.amount.sum()}
    cols = {}
    for what, keys in SAME_INSTANT.items():
        for key in keys:
            w = ibis.range_window(preceding=0, following=0, group_by=[t.merchant_id, t[KEYS[key][0]]],
                                  order_by=t.paid_ts)
            cols[f"_same_{what}_{key}"] = parts[what].over(w)
    return t.mutate(**cols)


def _with_earlier_totals(t: ir.Table, cut: dt.datetime) -> ir.Table:
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
    def __init__(self, t: ir.Table, key: str):
        self.t, self.name = t, key
        self.key = [t.merchant_id, t[KEYS[key][0]]]
        self.null = t[KEYS[key][0]].isnull()

    def before(self, what: str, value: ir.Value, preceding) -> ir.Value:
        upto = ibis.range_window(preceding=preceding, following=0, group_by=self.key, order_by=self.t.paid_ts)
        counted = value.over(upto) - self.t[f"_same_{what}_{self.name}"]
        if preceding is None:
            counted = counted + self.t[f"_carry_{what}_{self.name}"]
        return ibis.ifelse(self.null, 0, counted)


def _mismatch(a, b):
    return (a.notnull() & b.notnull() & (a != b)).cast("int32")


def _reference_build(access: DataAccess, since=None, until=None) -> ir.Table:
    t = access.table("payments")
    if until is not None:
        t = t.filter(t.paid_ts <= ibis.literal(until, type="timestamp"))
    if since is not None:
        t = _with_earlier_totals(t, since - LONGEST)
    else:
        t = t.mutate(**{f"_carry_{what}_{key}": ibis.literal(0, type="int64") if what == "n" else
                        ibis.literal(0, type=t.amount.type()) for what, key in CARRIED})
    t = _same_instant(t)
    declined = (t.status == "declined").cast("int64")
    cols = {}
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
        cols[f"cards_per_device_{name}"] = ibis.ifelse(dev.isnull(), 0, card.nunique().over(upto))
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
    out = t.select(*[t[c] for c in IDENTITY_COLUMNS], **cols, account_age_days_=t.account_age_days.fill_null(0))
    if since is not None:
        out = out.filter(out.paid_ts >= ibis.literal(since, type="timestamp"))
    return out


def _reference_features(access: DataAccess, since=None, until=None) -> pl.DataFrame:
    frame = access.to_polars(_reference_build(access, since, until)).rename({"account_age_days_": "account_age_days"})
    return frame.select(
        *[pl.col(c) for c in IDENTITY_COLUMNS if c != "amount"],
        pl.col("amount").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0).alias(c) for c in FEATURE_NAMES if c != "amount"],
    ).select(*IDENTITY_COLUMNS, *[c for c in FEATURE_NAMES if c != "amount"]).sort("paid_ts", "payment_id")


def _reference_scores(features: pl.DataFrame, payload: bytes, reasons_from: float) -> pl.DataFrame:
    """The previous score_features: a float64 matrix cast to float32, one detector call, a Python list of reasons
    for every payment, then a sort."""
    import xgboost as xgb

    model = outputs.load_model(payload)
    x = features.select(FEATURE_NAMES).to_numpy().astype(np.float32)
    booster = outputs.booster_of(model)
    probability = train.calibrate(booster.inplace_predict(x), model.calibration_x, model.calibration_y)
    detector = train.load_detector(model.iforest_skops)
    anomaly = train.anomaly_scale(-detector.decision_function(x), model.anomaly_quantiles)
    parts = {"probability": probability, "anomaly": anomaly, "score": train.blend(probability, anomaly)}
    scored = features.with_columns(**{k: pl.Series(k, v, dtype=pl.Float64) for k, v in parts.items()})
    reasons: list[list[str]] = [[] for _ in range(scored.height)]
    wanted = np.flatnonzero(parts["score"] >= reasons_from)
    if len(wanted):
        contributions = booster.predict(xgb.DMatrix(x[wanted]), pred_contribs=True)
        for i, said in zip(wanted, compute_reasons(contributions, scored[wanted])):
            reasons[int(i)] = said
    return scored.with_columns(pl.Series("reasons", reasons, dtype=pl.List(pl.Utf8))).sort("paid_ts", "payment_id")


# --- the comparisons ---

def _access(con, merchants=None) -> DataAccess:
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    return DataAccess(ibis.duckdb.from_connection(con.cursor()), scope)


@pytest.fixture(scope="module")
def con(fixture_warehouse_path):
    c = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def features(con) -> pl.DataFrame:
    return compute_features(_access(con))


def test_fast_features_equal_the_previous_implementation(con, features):
    reference = _reference_features(_access(con))
    assert features.height > 10_000 and features.columns == reference.columns
    for column in features.columns:  # one column at a time, so a failure names it
        assert features[column].equals(reference[column]), column
    # The comparison covers every kind of history: bursts, declines, several cards on a device, the customer's.
    for column in ("card_payments_10m", "device_declines_1h", "card_decline_share_1h", "email_domain_payments_30d",
                   "customer_prior_payments", "ip_payments_24h"):
        assert (features[column] > 0).any(), column
    assert (features["cards_per_device_1h"] > 1).any() and (features["amount_vs_customer_mean"] != 1.0).any()


@pytest.mark.parametrize("share", [0.5, 0.9])
def test_fast_features_from_a_date_equal_the_previous_implementation(con, features, share):
    """The scoring path (windows from 30 days before ``since`` plus carried totals), for one merchant."""
    since = features["paid_ts"].sort()[int(features.height * share)]
    until = since + dt.timedelta(days=15)
    fast = compute_features(_access(con, [1]), since=since, until=until)
    assert fast.height > 100
    assert fast.equals(_reference_features(_access(con, [1]), since, until))


def test_fast_scores_and_reasons_equal_the_previous_implementation(con, features, monkeypatch):
    trained = outputs.train_on(_access(con, [1]), window_days=30)
    # A shuffled frame: scoring sorts it, as before; a low bar for reasons writes some for many payments.
    frame = features.sample(fraction=1.0, shuffle=True, seed=3)
    monkeypatch.setattr(train, "THREADED_FROM", 1_000)  # the detector's rows split among threads here too
    fast = score_features(frame, trained.payload, reasons_from=0.2)
    reference = _reference_scores(frame, trained.payload, 0.2)
    assert fast.columns == reference.columns
    for column in fast.columns:
        assert fast[column].equals(reference[column]), column
    written = int((fast["reasons"].list.len() > 0).sum())
    assert 0 < written < fast.height
    # Scoring named payments (a page's cases) gives those rows of scoring them all.
    everything = score_payments(_access(con, [1]), trained.payload)
    ids = everything.sort("score", descending=True).head(25)["payment_id"].to_list()
    named = score_payments(_access(con, [1]), trained.payload, payment_ids=ids)
    assert named.height == 25 and named.equals(everything.filter(pl.col("payment_id").is_in(ids)))


def test_features_of_named_payments_equal_those_rows_of_the_full_computation(con, features):
    """``payment_ids``: the windows run over those payments' identities only, with the same numbers."""
    one = features.filter(pl.col("merchant_id") == 1)
    busy = one.filter((pl.col("device_payments_1h") > 0) | (pl.col("card_prior_payments") > 3)).head(40)
    ids = busy["payment_id"].to_list() + one.sample(40, seed=5)["payment_id"].to_list()
    ids += features.filter(pl.col("merchant_id") == 2).head(3)["payment_id"].to_list()  # out of scope: not returned
    asked = compute_features(_access(con, [1]), payment_ids=ids)
    assert asked.height > 40 and asked.equals(one.filter(pl.col("payment_id").is_in(ids)))
    since = one["paid_ts"].sort()[int(one.height * 0.7)]
    until = since + dt.timedelta(days=20)
    window = compute_features(_access(con, [1]), since=since, until=until)
    picked = window.sample(30, seed=2)["payment_id"].to_list()
    assert compute_features(_access(con, [1]), since=since, until=until, payment_ids=picked).equals(
        window.filter(pl.col("payment_id").is_in(picked)))
    assert compute_features(_access(con, [1]), payment_ids=[]).height == 0
