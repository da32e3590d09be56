"""Rules and allow/block lists: checks with clear messages, backtests against plain polars filters, and the
per-merchant fraud settings in the operational store (saved, audited, only backtested rule versions switched on)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from data.store.errors import InvalidValue, OutOfScope
from data.store.principal import Principal
from models.fraud.rules import RuleError, backtest, evaluate, matches, parse_condition, parse_list

FEATURES = {"cards_per_device_1h": "cards per device in 1 hour", "amount_vs_customer": "amount against history",
            "payments_per_ip_10m": "payments from the IP prefix in 10 minutes"}


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    n = 3000
    label = (rng.random(n) < 0.06).astype(int)
    return pl.DataFrame({
        "payment_id": np.arange(n), "amount": np.round(rng.gamma(2, 50, n), 2), "label": label,
        "cards_per_device_1h": rng.poisson(1 + 3 * label).astype(float),
        "amount_vs_customer": rng.normal(1 + label, 0.5),
        "payments_per_ip_10m": pl.Series([None if rng.random() < 0.02 else float(v) for v in rng.poisson(1, n)],
                                         dtype=pl.Float64),
        "device_id": [f"dev-{i % 300}" for i in range(n)],
        "card_fingerprint": [f"fp{i % 700:04d}" for i in range(n)],
        "ip_prefix": [f"10.{i % 5}.{i % 7}.0/24" for i in range(n)],
        "email_domain": [("mail.example" if i % 3 else "evil.test") for i in range(n)],
    })


def plain(frame: pl.DataFrame, mask: pl.Series) -> tuple:
    hit = frame.filter(mask)
    fraud, good = hit.filter(hit["label"] == 1), hit.filter(hit["label"] == 0)
    return hit.height, fraud.height, fraud["amount"].sum(), good.height, good["amount"].sum()


@pytest.mark.parametrize("comparison, value, op", [
    (">", 3, lambda s, v: s > v), (">=", 4, lambda s, v: s >= v), ("<", 1, lambda s, v: s < v),
    ("<=", 0, lambda s, v: s <= v), ("==", 2, lambda s, v: s == v), ("!=", 1, lambda s, v: s != v)])
def test_condition_backtest_equals_polars_filter(history, comparison, value, op):
    rule = parse_condition("devices", "cards_per_device_1h", comparison, str(value), "decline", FEATURES)
    got = backtest(history, rule)
    want = plain(history, op(history["cards_per_device_1h"], value))
    assert (got.matched, got.frauds, got.fraud_amount, got.good, got.good_amount) == pytest.approx(want)
    assert got.frauds_total == int(history["label"].sum())


def test_null_feature_never_matches(history):
    rule = parse_condition("ip", "payments_per_ip_10m", "!=", 1, "review", FEATURES)
    want = plain(history, history["payments_per_ip_10m"].is_not_null() & (history["payments_per_ip_10m"] != 1))
    assert backtest(history, rule).matched == want[0]


def test_lists_against_polars(history):
    devices = parse_list("bad devices", "device_id", "dev-1\n dev-2 ,dev-999", "block")
    assert devices.entries == ("dev-1", "dev-2", "dev-999")
    want = plain(history, history["device_id"].is_in(["dev-1", "dev-2", "dev-999"]))
    got = backtest(history, devices)
    assert (got.matched, got.frauds, got.fraud_amount, got.good, got.good_amount) == pytest.approx(want)
    domains = parse_list("domains", "email_domain", ["EVIL.test", "someone@evil.test"], "block")
    assert domains.entries == ("evil.test",)
    assert backtest(history, domains).matched == plain(history, history["email_domain"] == "evil.test")[0]
    wide = parse_list("net", "ip_prefix", "10.3, 10.1.2.77", "block")
    assert wide.entries == ("10.1.2.0/24", "10.3.0.0/16")
    mask = history["ip_prefix"].str.starts_with("10.3.") | (history["ip_prefix"] == "10.1.2.0/24")
    assert backtest(history, wide).matched == plain(history, mask)[0]


def test_evaluate_priority(history):
    allow = parse_list("trusted", "device_id", ["dev-1"], "allow")
    decline = parse_condition("velocity", "cards_per_device_1h", ">", 3, "decline", FEATURES)
    review = parse_condition("amount", "amount_vs_customer", ">", 1.5, "review", FEATURES)
    out = evaluate(history, [review, decline, allow])
    a = history["device_id"] == "dev-1"
    d = ~a & (history["cards_per_device_1h"] > 3)
    r = ~a & ~d & (history["amount_vs_customer"] > 1.5)
    want = pl.Series([("allow" if x else "decline" if y else "review" if z else None)
                      for x, y, z in zip(a, d, r)])
    assert out["rule_action"].to_list() == want.to_list()
    assert out.filter(pl.col("rule_action") == "decline")["rule_name"].unique().to_list() == ["velocity"]


@pytest.mark.parametrize("args, words", [
    (("r", "no_such_feature", ">", "3", "decline"), "Unknown feature 'no_such_feature'"),
    (("r", "cards_per_device_1h", ">", "three", "decline"), "must be a number"),
    (("r", "cards_per_device_1h", ">", "nan", "decline"), "finite number"),
    (("r", "cards_per_device_1h", "=>", "3", "decline"), "Unknown comparison"),
    (("r", "cards_per_device_1h", ">", "3", "allow"), "review or decline"),
    (("", "cards_per_device_1h", ">", "3", "decline"), "Give the rule a name"),
])
def test_condition_checks(args, words):
    with pytest.raises(RuleError, match=words):
        parse_condition(*args, features=FEATURES)


@pytest.mark.parametrize("field, entries, words", [
    ("ip_prefix", "999.1.1.0/24", "not an IPv4"), ("ip_prefix", "10.0.0.0/20", "/8, /16 or /24"),
    ("email_domain", "<script>", "not an email domain"), ("device_id", "a\x1bb", "control characters"),
    ("device_id", " , ", "empty"), ("phone", "1", "Lists hold"),
])
def test_list_checks(field, entries, words):
    with pytest.raises(RuleError, match=words):
        parse_list("l", field, entries, "block")


def test_matches_on_missing_column_is_a_clear_error(history):
    rule = parse_condition("x", "amount_vs_customer", ">", 1, "review", FEATURES)
    with pytest.raises(RuleError, match="no amount_vs_customer"):
        backtest(history.drop("amount_vs_customer"), rule)
    assert history.select(matches(rule)).to_series().dtype == pl.Boolean


# ------------------------------------------------------------------------------------------ settings in the store


@pytest.fixture
def settings(tmp_path):
    from data.store.fraud_settings import FraudSettings

    from data.store.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield store, FraudSettings(store)
    store.close()


def test_settings_saved_and_audited(settings):
    from data.store.fraud_settings import threshold_for

    store, fs = settings
    who = Principal.merchants("nina", [2])
    assert threshold_for(store, 2) is None and threshold_for(store, 2, default=0.7) == 0.7
    fs.save_costs(who, 2, chargeback_fee=15, margin_lost=0.25, review_cost=3.5, request_id="c1")
    fs.save_threshold(who, 2, 0.42, source="lowest cost", request_id="t1")
    assert threshold_for(store, 2) == pytest.approx(0.42) == threshold_for(store, 2, default=0.7)
    current = fs.get(who, 2)
    assert current["costs"] == {"chargeback_fee": 15.0, "margin_lost": 0.25, "review_cost": 3.5}
    entries = [e for e in store.audit.entries(Principal.staff("auditor"), merchant_ids=[2])
               if e.entity == "fraud_settings"]
    assert len(entries) == 2 and {e.actor for e in entries} == {"nina"}
    with pytest.raises(OutOfScope):
        fs.save_threshold(who, 1, 0.5, source="by hand", request_id="t2")
    with pytest.raises(InvalidValue, match="threshold"):
        fs.save_threshold(who, 2, 1.5, source="by hand", request_id="t3")
    with pytest.raises(InvalidValue, match="margin"):
        fs.save_costs(who, 2, chargeback_fee=15, margin_lost=2, review_cost=3, request_id="c2")


def test_only_a_backtested_rule_version_switches_on(settings, history):
    store, fs = settings
    who = Principal.merchants("nina", [2])
    rule = parse_condition("velocity", "cards_per_device_1h", ">", 3, "decline", FEATURES)
    rule_id = fs.save_rule(who, 2, rule, request_id="r1")
    with pytest.raises(InvalidValue, match="backtest"):
        fs.switch(who, 2, rule_id, on=True, request_id="s1")
    fs.record_backtest(who, 2, rule_id, version=1, result=backtest(history, rule).to_dict(), request_id="b1")
    fs.switch(who, 2, rule_id, on=True, request_id="s2")
    assert [r["enabled"] for r in fs.get(who, 2)["rules"]] == [True]
    edited = parse_condition("velocity", "cards_per_device_1h", ">", 2, "decline", FEATURES)
    fs.save_rule(who, 2, edited, rule_id=rule_id, request_id="r2")
    saved = fs.get(who, 2)["rules"][0]
    assert saved["version"] == 2 and not saved["enabled"] and saved["backtest"] is None
    with pytest.raises(InvalidValue, match="backtest"):
        fs.switch(who, 2, rule_id, on=True, request_id="s3")
    with pytest.raises(InvalidValue, match="version"):
        fs.record_backtest(who, 2, rule_id, version=1, result=backtest(history, rule).to_dict(), request_id="b2")
    from data.store.fraud_settings import enabled_rules

    assert enabled_rules(store, 2) == []
