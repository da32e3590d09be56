"""Staff merchant ranking: figures against plain SQL, never a sum across currencies, conversion only at rates an
admin entered (kept in the operational store and labelled), and the page for each role under AppTest."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import ranking
from analytics.filters import Filters
from dashboard import tables
from dashboard.auth.accounts import Principal
from data.access import DataAccess, Scope
from data.store import InvalidValue, OutOfScope, Principal as StorePrincipal, open_store
from tests.test_pages_apptest import HARNESS, COLD

SQL = """
WITH o AS (SELECT * FROM orders WHERE order_ts >= $lo AND order_ts < $hi AND ($channel IS NULL OR channel = $channel)),
rev AS (SELECT o.merchant_id, sum(l.line_amount) AS revenue FROM o JOIN order_lines l USING (order_id)
        JOIN products p ON p.product_id = l.product_id
        WHERE p.is_merchandise AND o.status <> 'cancelled' AND o.order_type IN ('sale', 'return')
          AND (o.order_type = 'return' OR o.status <> 'returned') GROUP BY 1),
cnt AS (SELECT merchant_id, count(*) AS orders FROM o WHERE order_type = 'sale' AND status <> 'cancelled' GROUP BY 1)
SELECT m.merchant_id, m.currency, coalesce(rev.revenue, 0)::DOUBLE AS revenue, coalesce(cnt.orders, 0) AS orders
FROM merchants m LEFT JOIN rev USING (merchant_id) LEFT JOIN cnt USING (merchant_id) ORDER BY 1
"""


def sql_figures(path, start: dt.date, end: dt.date, channel: str | None) -> dict[int, tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(SQL, {"lo": dt.datetime.combine(start, dt.time()),
                                 "hi": dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
                                 "channel": channel}).fetchall()
    finally:
        con.close()
    return {m: (cur, rev, n) for m, cur, rev, n in rows}


@pytest.mark.parametrize("channel", [None, "web"])
def test_ranking_matches_plain_sql(serving_warehouse, fixture_warehouse_path, channel):
    access = DataAccess(serving_warehouse.backend(), Scope.unrestricted())
    o = access.table("orders")
    last = access.to_polars(o.order_ts.max().date().name("d")).item()
    f = Filters(last - dt.timedelta(days=29), last, channels=(channel,) if channel else ())
    board = ranking.compute_merchant_ranking(access, f)
    now = sql_figures(fixture_warehouse_path, f.start, f.end, channel)
    before = sql_figures(fixture_warehouse_path, f.start - dt.timedelta(days=30), f.start - dt.timedelta(days=1),
                         channel)
    assert sorted(board["merchant_id"].to_list()) == sorted(now)
    for row in board.iter_rows(named=True):
        cur, rev, n = now[row["merchant_id"]]
        _, prev_rev, prev_n = before[row["merchant_id"]]
        assert row["currency"] == cur
        assert row["revenue"] == pytest.approx(rev, abs=1e-6) and row["orders"] == n
        assert row["previous_revenue"] == pytest.approx(prev_rev, abs=1e-6) and row["previous_orders"] == prev_n
        assert row["revenue_change"] == pytest.approx((rev - prev_rev) / abs(prev_rev))
        assert row["orders_change"] == pytest.approx((n - prev_n) / prev_n)
    assert sum(n for _, _, n in now.values()) > 0
    # Ranks restart in each currency and follow revenue there.
    for _, group in board.group_by("currency"):
        assert group.sort("rank")["revenue"].to_list() == sorted(group["revenue"].to_list(), reverse=True)
        assert group["rank"].sort().to_list() == list(range(1, group.height + 1))


def _board() -> pl.DataFrame:
    return pl.DataFrame({
        "merchant_id": [1, 2, 3], "merchant": ["A", "B", "C"], "currency": ["GBP", "EUR", "EUR"], "rank": [1, 1, 2],
        "revenue": [100.0, 300.0, 50.0], "previous_revenue": [80.0, 0.0, 100.0], "revenue_change": [0.25, None, -0.5],
        "orders": [10, 30, 5], "previous_orders": [8, 0, 10], "orders_change": [0.25, None, -0.5]})


def test_totals_are_per_currency_and_conversion_needs_every_rate():
    totals = ranking.compute_currency_totals(_board())
    assert totals.select("currency", "merchants", "revenue", "orders").rows() == [("EUR", 2, 350.0, 35),
                                                                                  ("GBP", 1, 100.0, 10)]
    assert totals["revenue_change"].to_list() == [pytest.approx(350 / 100 - 1), pytest.approx(0.25)]
    with pytest.raises(ValueError, match="no exchange rate into EUR for GBP"):
        ranking.convert_ranking(_board(), {}, "EUR")
    with pytest.raises(ValueError, match="positive"):
        ranking.convert_ranking(_board(), {"GBP": 0.0}, "EUR")
    converted = ranking.convert_ranking(_board(), {"GBP": 1.2}, "EUR")
    assert converted.select("merchant", "revenue_converted", "converted_rank").rows() == [
        ("B", 300.0, 1), ("A", pytest.approx(120.0), 2), ("C", 50.0, 3)]


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


def test_exchange_rates_are_kept_audited_and_checked(store):
    admin = StorePrincipal.staff("adm")
    assert store.exchange_rates.latest("EUR") is None
    saved = store.exchange_rates.save(admin, target="EUR", rates={"GBP": 1.17, "USD": 0.92}, request_id="r1")
    again = store.exchange_rates.save(admin, target="EUR", rates={"GBP": 1.17, "USD": 0.92}, request_id="r1")
    assert again.duplicate and not saved.duplicate
    latest = store.exchange_rates.latest("EUR")
    assert (latest.rates, latest.actor) == ({"GBP": 1.17, "USD": 0.92}, "adm")
    entries = store.audit.entries(admin, entity="exchange_rates")
    assert [(e.actor, e.action, e.after) for e in entries] == [
        ("adm", "save", {"target": "EUR", "rates": {"GBP": 1.17, "USD": 0.92}})]
    with pytest.raises(OutOfScope):
        store.exchange_rates.save(StorePrincipal.merchants("m", [1]), target="EUR", rates={"GBP": 1.0},
                                  request_id="r2")
    for bad in ({"GBP": -1}, {"GBP": float("nan")}, {"gbp": 1.0}, {}, {"EUR": 1.0}):
        with pytest.raises(InvalidValue):
            store.exchange_rates.save(admin, target="EUR", rates=bad, request_id="r3")


# ------------------------------------------------------------------------------------------------ the page

ADMIN = Principal("adm", "Adm", "admin", None)


@pytest.fixture
def served(fixture_warehouse_path, tmp_path, monkeypatch):
    path = tmp_path / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    monkeypatch.setenv("RETAIL_PULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("RETAIL_PULSE_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    st.cache_data.clear()
    st.cache_resource.clear()


def _open(principal: Principal) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = principal
    at.session_state["harness_page"] = "ranking"
    return at.run(timeout=COLD)


def _texts(at: AppTest) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown] + [i.value for i in at.info]
                    + [s.value for s in at.subheader])


def test_page_ranks_per_currency_and_converts_only_at_entered_rates(served):
    at = _open(ADMIN)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Merchant ranking"
    for d in at.dataframe:  # labels in words with units, no empty cell shown as None
        labels = [json.loads(d.proto.columns or "{}").get(c, {}).get("label") for c in d.value.columns]
        assert not tables.unknown_columns(d.value.columns, tables.RANKING_COLUMNS)
        assert not tables.snake_case_labels(labels) and all(labels), labels
        assert not d.value.astype(str).isin(["None", "null", "nan", "NaN"]).any().any()
    assert any("Revenue (" in str(v.get("label")) for d in at.dataframe
               for v in json.loads(d.proto.columns or "{}").values()), "money columns carry their currency"
    heads = [s.value for s in at.subheader]
    assert "Totals per currency" in heads and sum(h.endswith("merchants") for h in heads) >= 2
    assert "No exchange rate into" in _texts(at)
    assert at.number_input, "an admin gets the rates form"
    for box in at.number_input:
        box.set_value(1.25)
    next(b for b in at.button if b.label == "Save rates").click()
    at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    text = _texts(at)
    assert "converted at rates entered by adm on" in text, text
    assert "No exchange rate into" not in text


@pytest.mark.parametrize("role", ["operations", "analyst"])
def test_staff_roles_see_the_ranking_without_the_rates_form(served, role):
    at = _open(Principal(role[:3], role, role, None))
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Merchant ranking" and not at.number_input
    assert "an admin can enter them" in _texts(at)


def test_merchant_users_cannot_open_the_ranking(served):
    at = _open(Principal("m", "M", "merchant", frozenset({1})))
    assert not at.exception
    assert all(t.value != "Merchant ranking" for t in at.title)
