"""State that sticks: filters and the currency survive page changes, the URL carries them (reload, shared
link) without ever widening the signed-in person's scope, and saved views are per user and scoped."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import saved_views, state
from dashboard.auth.accounts import Principal
from data.store.errors import InvalidValue
from tests.test_pages_apptest import (COLD, HARNESS, MERCHANT, PRINCIPALS, currency_of,  # noqa: F401 - fixtures
                                      fixture_app, ok, oracle, period, restore_environment, served_copy)

# ---------------------------------------------------------------------------------------------- pure


def test_encode_decode_round_trip():
    values = {"flt_merchants": [1, 3], "flt_period": "last_90", "flt_custom": (dt.date(2026, 1, 2), dt.date(2026, 2, 3)),
              "flt_regions": ["North", "Wrocław & Co"], "flt_stores": [7], "currency_pick": "GBP"}
    params = state.encode(values)
    assert params["region"] == ["North", "Wrocław & Co"] and params["dates"] == ["2026-01-02", "2026-02-03"]
    assert state.decode(params) == {**values, "flt_custom": (dt.date(2026, 1, 2), dt.date(2026, 2, 3))}


def test_decode_ignores_what_it_cannot_read():
    got = state.decode({"merchant": ["1", "x", "2; DROP"], "dates": ["2026-13-01", "2026-01-01"], "nope": ["1"],
                        "period": []})
    assert got == {"flt_merchants": [1]}


def test_sanitize_keeps_only_options():
    assert state.sanitize([3, 1, 9], [1, 2, 3], many=True) == [3, 1]
    assert state.sanitize("XXX", ["EUR", "GBP"], many=False) is None


# ---------------------------------------------------------------------------------------------- pages


def open_with(principal: Principal, page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = principal
    at.session_state["harness_page"] = page
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return ok(at.run(timeout=COLD))


def test_currency_and_filters_survive_a_page_change(fixture_app, oracle, tmp_path, monkeypatch):
    from dashboard.auth import accounts

    creds = tmp_path / "credentials.yaml"
    accounts.add_user("adm", "adm-password-1", "admin", path=creds, rounds=4)
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(creds))  # the Data page lists the users
    at = open_with(PRINCIPALS["admin"], "overview")
    shown = at.selectbox(key="currency_pick").value  # the default: the largest group
    other = next(c for c in (currency_of(oracle, m) for m in (1, 2, 3)) if c != shown)
    ok(at.selectbox(key="currency_pick").set_value(other).run(timeout=COLD))
    region = at.multiselect(key="flt_regions").options[0]
    ok(at.multiselect(key="flt_regions").select(region).run(timeout=COLD))
    ok(at.switch_page("../../dashboard/views/data_admin.py").run(timeout=COLD))  # no currency picker there
    assert at.title[0].value == "Data"
    ok(at.switch_page("../../dashboard/views/sales.py").run(timeout=COLD))
    assert at.title[0].value == "Sales analytics"
    assert at.selectbox(key="currency_pick").value == other
    assert at.multiselect(key="flt_regions").value == [region]


def test_the_url_carries_the_filters_and_a_reload_restores_them(fixture_app, oracle):
    at = open_with(PRINCIPALS["analyst"], "overview")
    assert "region" not in at.query_params and "period" not in at.query_params  # defaults stay out of the URL
    region = at.multiselect(key="flt_regions").options[0]
    ok(at.multiselect(key="flt_regions").select(region).run(timeout=COLD))
    ok(at.selectbox(key="flt_period").set_value("last_90").run(timeout=COLD))
    currency = currency_of(oracle, 3)
    ok(at.selectbox(key="currency_pick").set_value(currency).run(timeout=COLD))
    link = dict(at.query_params)
    assert link["period"] == "last_90" and link["currency"] == currency
    assert link["region"] == region or link["region"] == [region]
    metrics = {m.label: m.value for m in at.metric}

    reloaded = open_with(PRINCIPALS["analyst"], "overview", link)  # a new session on the same URL
    assert reloaded.selectbox(key="flt_period").value == "last_90"
    assert reloaded.multiselect(key="flt_regions").value == [region]
    assert reloaded.selectbox(key="currency_pick").value == currency
    assert {m.label: m.value for m in reloaded.metric} == metrics


def test_a_link_naming_another_merchant_does_not_widen_a_merchants_scope(fixture_app, oracle):
    other = 1 if MERCHANT != 1 else 3
    theirs = oracle("""SELECT min(s.store_id) AS s FROM stores s WHERE s.merchant_id = $o""", o=other).item()
    their_category = oracle("""SELECT min(category) AS c FROM products WHERE merchant_id = $o AND category NOT IN
                               (SELECT category FROM products WHERE merchant_id = $m)""", o=other, m=MERCHANT).item()
    plain = open_with(PRINCIPALS["merchant"], "overview")
    link = {"merchant": str(other), "store": str(theirs), "category": their_category,
            "currency": currency_of(oracle, other), "period": "last_30"}
    at = open_with(PRINCIPALS["merchant"], "overview", link)
    assert {m.label: m.value for m in at.metric} == {m.label: m.value for m in plain.metric}
    assert at.multiselect(key="flt_stores").value == [] and at.multiselect(key="flt_categories").value == []
    assert "currency_pick" not in [s.key for s in at.selectbox]
    assert "merchant" not in at.query_params and "store" not in at.query_params  # the URL is rewritten
    start, end = period(oracle, [MERCHANT])
    orders = oracle("""SELECT count(*) AS n FROM orders WHERE merchant_id = $m AND order_type = 'sale'
                       AND status <> 'cancelled' AND CAST(order_ts AS DATE) BETWEEN $start AND $end""",
                    m=MERCHANT, start=start, end=end).item()
    assert {m.label: m.value for m in at.metric}["Orders"] == f"{orders:,}"


def test_a_staff_link_narrows_to_the_merchants_it_names(fixture_app):
    at = open_with(PRINCIPALS["analyst"], "overview", {"merchant": ["2", "999"]})
    assert at.multiselect(key="flt_merchants").value == [2]  # 999 does not exist: dropped
    assert "currency_pick" not in [s.key for s in at.selectbox]  # one merchant, one currency


# ---------------------------------------------------------------------------------------------- saved views


def save_view(at: AppTest, name: str) -> AppTest:
    at.text_input(key=saved_views.NAME_KEY).input(name)
    return ok(at.button(key="views_save").click().run(timeout=COLD))


def test_saved_views_are_per_user_and_reopen_the_filters(fixture_app):
    at = open_with(PRINCIPALS["merchant"], "overview")
    region = at.multiselect(key="flt_regions").options[-1]
    ok(at.multiselect(key="flt_regions").select(region).run(timeout=COLD))
    ok(at.selectbox(key="flt_period").set_value("last_90").run(timeout=COLD))
    at = save_view(at, "My <b>north</b> view")
    assert [s.value for s in at.success] == ["Saved."]

    fresh = open_with(PRINCIPALS["merchant"], "overview")  # another session of the same user
    picker = fresh.selectbox(key=saved_views.PICK_KEY)
    assert picker.options == ["My <b>north</b> view"]  # the name as typed, as plain text
    assert fresh.multiselect(key="flt_regions").value == []
    ok(picker.select_index(0).run(timeout=COLD))
    ok(fresh.button(key="views_open").click().run(timeout=COLD))
    assert fresh.multiselect(key="flt_regions").value == [region]
    assert fresh.selectbox(key="flt_period").value == "last_90"

    # Another user, staff or another merchant, does not see it.
    for who in (PRINCIPALS["analyst"], Principal("other", "Other", "merchant", frozenset({1}))):
        other = open_with(who, "overview")
        assert other.selectbox(key=saved_views.PICK_KEY).options == []

    ok(fresh.button(key="views_delete").click().run(timeout=COLD))
    assert open_with(PRINCIPALS["merchant"], "overview").selectbox(key=saved_views.PICK_KEY).options == []

    # Both changes are in the store's audit log, filed under the merchant user's own merchant.
    from dashboard import cache
    from data.store.principal import Principal as StorePrincipal

    log = cache.store().audit.entries(StorePrincipal.staff("auditor"), entity=saved_views.KIND)
    mine = [e for e in log if e.actor == PRINCIPALS["merchant"].username]
    assert [e.action for e in mine] == ["create", "revise:deleted"] and {e.merchant_id for e in mine} == {MERCHANT}


def test_saving_again_under_the_same_name_replaces_the_view(fixture_app):
    at = open_with(PRINCIPALS["analyst"], "overview")
    at = save_view(at, "Weekly")
    ok(at.selectbox(key="flt_period").set_value("last_7").run(timeout=COLD))
    at = save_view(at, "Weekly")
    picker = open_with(PRINCIPALS["analyst"], "overview").selectbox(key=saved_views.PICK_KEY)
    assert picker.options.count("Weekly") == 1
    view = next(v for v in saved_views.Views(__import__("dashboard.cache").cache.store()).list(PRINCIPALS["analyst"])
                if v.name == "Weekly")
    assert view.filters["period"] == ["last_7"]


def test_a_view_without_a_name_or_with_unknown_filters_is_refused(fixture_app):
    from dashboard import cache

    views = saved_views.Views(cache.store())
    with pytest.raises(InvalidValue, match="name"):
        views.save(PRINCIPALS["analyst"], "  ", {}, "rid-1")
    with pytest.raises(InvalidValue, match="unknown filter"):
        views.save(PRINCIPALS["analyst"], "x", {"merchant_scope": ["all"]}, "rid-2")
