"""The Alerts page under AppTest, for every role, against the store it writes and an independent count.

The page runs through tests/apps/page_harness.py on a copy of the tiny fixture warehouse with an operational
store of its own (SQLite in the module's folder). Incidents are seeded through the store API
(``AlertIncidents.record``, what ``alerts check`` calls) near the end of the fixture's data, so the page's band and
drill-down are computed by the detection API on real rows; the drill-down by channel is checked against plain SQL.
Stock-out alerts come from a small risk frame handed to the page in place of the saved-forecast computation (the
Stock-out risk page's own tests cover that computation).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import alert_data, alert_rules_form, tables
from dashboard.formatting import value_words
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, pages_for
from models.alerts.incidents import Cause, Incident
from models.alerts.watch import METRICS
from tests.test_hostile_names import FORBIDDEN, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
HOSTILE = '<a href="https://evil.example">Shoes</a> [click](https://evil.example) **md**'
START = dt.datetime(2026, 10, 31, 12, 0)  # the fixture's data ends on 31 Oct 2026
PRINCIPALS = {
    "merchant": Principal("shop2", "Nina", "merchant", frozenset({2})),
    "operations": Principal("ops", "Ops", "operations", None),
    "admin": Principal("adm", "Adm", "admin", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
}
ALLOWED = [r for r in ROLES if "alerts" in [p.key for p in pages_for(r)]]


def incident(merchant_id: int, key: str, *, metric="orders", dimension="channel", value="web", hours=3,
             causes=None, start=START, figures=(4.0, 20.0, 12.0, 28.0)) -> Incident:
    return Incident(merchant_id=merchant_id, key=key, metric=metric, dimension=dimension,
                    dimension_value=None if dimension == "total" else value, direction="drop", start=start,
                    end=start + dt.timedelta(hours=hours), observed=figures[0], expected=figures[1],
                    low=figures[2], high=figures[3],
                    score=6.0, anomalies=(), causes=causes or (Cause("dimension", f"{dimension} {value}",
                                                                     "most of the drop is here", 0.8),))


SEEDED = {
    "a1000000000000m1": incident(1, "a1000000000000m1"),
    "b2000000000000m2": incident(2, "b2000000000000m2", metric="revenue", dimension="total",
                                 causes=(Cause("stockout", HOSTILE, f"{HOSTILE} was out of stock", 0.9),
                                         Cause("campaign_end", "Autumn sale ended", "it ended at 11:00", 0.4))),
    "c3000000000000m2": incident(2, "c3000000000000m2", start=START - dt.timedelta(days=1)),
    "d4000000000000m2": incident(2, "d4000000000000m2", dimension="region", value=HOSTILE,
                                 start=START - dt.timedelta(days=2)),
}
# One incident of each watched metric for merchant 3, on its first dimension after the total; a rate (share of
# sessions or payments) is stored as a rate.
RATE_FIGURES = (0.5, 0.02, 0.0, 0.05)
EVERY_METRIC = {f"e{n:03d}{metric[:12]:0<12}": incident(3, f"e{n:03d}{metric[:12]:0<12}", metric=metric,
                                                        dimension=m.dimensions[1], value="web",
                                                        start=START - dt.timedelta(hours=8 * n),
                                                        figures=RATE_FIGURES if m.kind == "ratio" else
                                                        (4.0, 20.0, 12.0, 28.0))
                for n, (metric, m) in enumerate(METRICS.items())}
SEEDED.update(EVERY_METRIC)
# Merchant 2: more likely stock-outs than the list takes (alert_data.STOCKOUT_TOP by revenue at risk), and one
# below alert_data.STOCKOUT_MIN; merchant 1: one.
STOCKOUT = pl.DataFrame({
    "merchant_id": [2] * (alert_data.STOCKOUT_TOP + 2) + [1],
    "alert_key": [f"product:{n}@store:1" for n in range(alert_data.STOCKOUT_TOP + 2)] + ["product:9@store:2"],
    "product": ["Wool socks"] + [f"Product {n}" for n in range(1, alert_data.STOCKOUT_TOP + 2)] + ["Rain coat"],
    "location": ["Leeds"] * (alert_data.STOCKOUT_TOP + 2) + ["York"],
    "stockout_probability": [0.8] + [0.6] * alert_data.STOCKOUT_TOP + [0.3] + [0.7],
    "revenue_at_risk": [100.0 + n for n in range(alert_data.STOCKOUT_TOP + 1)] + [5000.0, 10.0]})
LISTED_STOCKOUTS = {  # what the list should take: per merchant, likely enough, largest revenue at risk first
    m: set(g.filter(pl.col("stockout_probability") >= alert_data.STOCKOUT_MIN)
           .sort("revenue_at_risk", descending=True).head(alert_data.STOCKOUT_TOP)["alert_key"])
    for (m,), g in STOCKOUT.group_by("merchant_id")}


# ---------------------------------------------------------------------------------------------- plumbing


@pytest.fixture(scope="module")
def served(fixture_warehouse_path, tmp_path_factory):
    """A warehouse copy, users, and a store seeded with SEEDED; restores the environment afterwards."""
    from dashboard.auth import accounts
    from data.store import open_store
    from data.store.alert_incidents import AlertIncidents

    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_STATE_URL", "RETAIL_PULSE_CREDENTIALS",
             "RETAIL_PULSE_MODELS_DIR")
    before = {k: os.environ.get(k) for k in names}
    folder = tmp_path_factory.mktemp("alerts_page")
    shutil.copy(fixture_warehouse_path, folder / "served.duckdb")
    creds = folder / "credentials.yaml"
    accounts.add_user("ops2", "ops2-password-1", "operations", None, path=creds, rounds=4, name="Olga")
    accounts.add_user("shop1", "shop1-password-1", "merchant", [1], path=creds, rounds=4, name="Other shop")
    accounts.add_user("shop2b", "shop2-password-1", "merchant", [2], path=creds, rounds=4, name="Nils")
    url = f"sqlite:///{folder / 'state.sqlite'}"
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(folder / "served.duckdb"), "RETAIL_PULSE_CREDENTIALS": str(creds),
                       "RETAIL_PULSE_STATE_URL": url, "RETAIL_PULSE_MODELS_DIR": str(folder / "models")})
    store = open_store(url)
    for merchant in (1, 2, 3):
        AlertIncidents(store).record(merchant, [i for i in SEEDED.values() if i.merchant_id == merchant],
                                     channels={}, message_for=lambda i: {"title": "t", "lines": [], "link": None})
    store.close()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield folder
    for key, value in before.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app(served, monkeypatch):
    monkeypatch.setattr(alert_data, "stockout_risk", lambda store, who, ids, version: STOCKOUT)
    return served


def open_page(role: str, link: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "alerts"
    for key, value in state.items():
        at.session_state[key] = value
    if link is not None:
        at.query_params["incident"] = link
    return run(at)


def run(at) -> AppTest:
    """Run the app (``at``: the AppTest, or a widget of it after a change)."""
    at = at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    return at


def frame(at: AppTest, column: str) -> pl.DataFrame | None:
    found = [pl.from_pandas(d.value) for d in at.dataframe if column in d.value.columns]
    return found[0] if found else None


def has(widgets, key: str) -> bool:
    return any(getattr(w, "key", None) == key for w in widgets)


def the_store(folder: Path):
    from data.store import open_store

    return open_store(f"sqlite:///{folder / 'state.sqlite'}")


def pick_of(key: str) -> str:
    """The list picker's value of seeded incident ``key``."""
    return f"incident|{SEEDED[key].merchant_id}|{key}"


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ALLOWED)
def test_every_allowed_role_sees_its_merchants_alerts_only(app, role):
    at = open_page(role)
    assert at.title[0].value == "Alerts"
    listed = frame(at, "title")
    scope = PRINCIPALS[role].merchant_ids
    keys = {k for k, i in SEEDED.items() if scope is None or i.merchant_id in scope}
    stockouts = set().union(*(LISTED_STOCKOUTS[m] for m in (scope or (1, 2))))
    if scope is None or 2 in scope:  # the oracle has teeth: the cap and the threshold each leave one out
        assert "product:1@store:1" in stockouts
        assert "product:0@store:1" not in stockouts and "product:21@store:1" not in stockouts
    assert listed.height == len(keys) + len(stockouts)
    wanted = STOCKOUT.filter(pl.col("alert_key").is_in(list(stockouts)))
    titles = {f"Stock-out risk: {p} at {loc}" for p, loc in zip(wanted["product"], wanted["location"])}
    assert set(listed.filter(pl.col("kind_text") == "Stock-out risk")["title"]) == titles
    assert set(listed["kind_text"]) == {"Incident", "Stock-out risk"}
    options = at.selectbox(key="al_pick").options
    assert len(options) == listed.height
    if scope is not None:  # nothing of merchant 1 anywhere on the page
        assert not any("Rain coat" in o for o in options)
        assert "merchant" not in listed.columns and not has(at.multiselect, "al_merchant")
    # newest first, stock-outs (no start) after the incidents
    starts = [s for s in listed["started_at"].to_list() if s]
    assert starts == sorted(starts, reverse=True)
    assert listed["kind_text"].to_list()[-len(stockouts):] == ["Stock-out risk"] * len(stockouts)
    for d in at.dataframe:
        columns = list(d.value.columns)
        assert not tables.unknown_columns(columns, tables.ALERT_COLUMNS), columns
        assert not tables.snake_case_labels(tables.label_for(c, "EUR", tables.ALERT_COLUMNS) for c in columns)


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ALLOWED])
def test_other_roles_are_refused(app, role):
    from dashboard.context import PageContext

    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "alerts.py"))
    at.session_state["rp_page_context"] = PageContext(PRINCIPALS[role], (1, 2, 3), None, 1, None)
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Alerts."]
    assert not at.dataframe


def test_filters_narrow_the_list(app):
    at = open_page("operations")
    run(at.multiselect(key="al_merchant").select(1))
    assert set(frame(at, "title")["merchant"]) == {at.multiselect(key="al_merchant").format_func(1)}
    run(at.multiselect(key="al_metric").select("revenue"))
    listed = frame(at, "title")
    assert listed is None or listed.height == 0  # merchant 1 has no revenue incident
    at.multiselect(key="al_merchant").unselect(1)
    listed = frame(run(at), "title")
    revenue = sorted(k for k, i in SEEDED.items() if i.metric == "revenue")
    assert listed.height == len(revenue) and set(listed["metric_text"]) == {"Revenue"}
    at.multiselect(key="al_metric").unselect("revenue")
    run(at.toggle(key="al_stockouts").set_value(False))
    assert set(frame(at, "title")["kind_text"]) == {"Incident"}


# ---------------------------------------------------------------------------------------------- deep link


def test_a_link_to_another_merchants_incident_shows_nothing_of_it(app):
    at = open_page("merchant", link="a1000000000000m1")
    assert any("No incident" in w.value for w in at.warning)
    assert all(not o.endswith("a1000000000000m1") for o in at.selectbox(key="al_pick").options)
    assert at.selectbox(key="al_pick").value.split("|")[1] == "2"  # the incident shown below is their own
    page = " ".join(markdown_texts(at)) + " ".join(str(d.value.to_dict()) for d in at.dataframe)
    assert "a1000000000000m1" not in page.replace("`a1000000000000m1`", "")
    assert "Rain coat" not in page
    assert set(frame(at, "title")["kind_text"]) == {"Incident", "Stock-out risk"}  # their own list instead


def test_a_link_opens_the_incident_with_band_drill_down_and_causes(app, fixture_warehouse_path):
    key = "a1000000000000m1"
    at = open_page("operations", link=key)
    facts = frame(at, "about")
    assert dict(zip(facts["about"], facts["detail"]))["Series"] == "Orders, channel Web"  # a stored code, in words
    assert has(at.button, "al_back") and not has(at.selectbox, "al_pick")
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 2  # the band and the drill-down
    # the drill-down by channel: observed orders per channel in the incident's span, by plain SQL
    split = frame(at, "dimension_value")
    inc = SEEDED[key]
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)

    def counts(column: str) -> dict:
        return {value_words(k): float(v) for k, v in con.execute(  # codes as the page words them
            f"SELECT coalesce({column}, '(none)'), count(*) FROM orders WHERE merchant_id = 1 AND order_type = 'sale' "
            "AND status <> 'cancelled' AND order_ts >= ? AND order_ts < ? GROUP BY 1", [inc.start, inc.end]).fetchall()}

    assert at.selectbox(key="al_drill").value == "channel"  # the incident's own dimension first
    shown = {v: o for v, o in zip(split["dimension_value"], split["observed_orders"]) if o}
    assert shown == pytest.approx(counts("channel"))
    run(at.selectbox(key="al_drill").set_value("payment_method"))
    split = frame(at, "dimension_value")
    shown = {v: o for v, o in zip(split["dimension_value"], split["observed_orders"]) if o}
    assert shown == pytest.approx(counts("payment_method"))
    con.close()
    assert split["difference_orders"].to_list() == pytest.approx(
        (split["observed_orders"] - split["expected_orders"]).to_list())
    causes = frame(at, "evidence")
    assert causes["cause"].to_list() == [c.label for c in inc.causes]
    run(at.button(key="al_back").click())
    assert "incident" not in at.query_params and has(at.selectbox, "al_pick")


@pytest.mark.parametrize("user,password,opens", [("ops2", "ops2-password-1", True),
                                                  ("shop1", "shop1-password-1", False)])
def test_the_notification_link_opens_the_incident_after_sign_in(app, monkeypatch, user, password, opens):
    """Through the real entrypoint: a signed-out person follows ``/alerts?incident=<key>`` (merchant 2's), signs
    in, and lands on the incident, unless it is another merchant's."""
    from dashboard import state
    from dashboard.auth import login as auth

    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", secrets.token_urlsafe(48))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"))
    at.query_params["incident"] = "b2000000000000m2"
    run(at)
    at.session_state[state.LINKED_PAGE] = "alerts"  # what the form reads from a browser's /alerts
    at.text_input(key=auth.USERNAME_KEY).input(user)
    at.text_input(key=auth.PASSWORD_KEY).input(password)
    run(at.button(key=auth.SUBMIT_KEY).click())
    assert at.title[0].value == "Alerts"
    facts = frame(at, "about")
    if opens:
        assert dict(zip(facts["about"], facts["detail"]))["Series"] == "Revenue, all sales"
        assert has(at.button, "al_back")
    else:
        assert any("No incident" in w.value for w in at.warning)
        assert facts is None or "Revenue" not in dict(zip(facts["about"], facts["detail"]))["Series"]
        assert all("Revenue dropped" not in t for t in frame(at, "title")["title"].to_list())


@pytest.mark.parametrize("key", list(EVERY_METRIC))
def test_every_metric_opens_with_its_unit(app, key):
    at = open_page("admin", link=key)
    inc = SEEDED[key]
    unit = METRICS[inc.metric].unit
    split = frame(at, "dimension_value")
    # A rate's drill-down splits its counts (sessions with a purchase, declined or failed payments).
    suffix = {"share": "sessions", "payment_share": "payments"}.get(unit, unit)
    if split is not None:
        assert {f"observed_{suffix}", "part_of_difference"} <= set(split.columns)
    facts = dict(zip(*frame(at, "about").to_dict(as_series=False).values()))
    assert facts["Series"].startswith(METRICS[inc.metric].title)
    heading = at.subheader[0].value
    shown = "Web" if inc.dimension in ("channel", "payment_method") else "web"  # codes read in words
    split_words = f"({alert_data.DIMENSION_WORDS[inc.dimension].lower()}: `{shown}`)"
    if METRICS[inc.metric].kind == "ratio":  # a rate reads as a percentage, never "0 payments" or "2400%"
        assert (facts["Observed"], facts["Expected"]) == ("50.0%", "2.0%")
        assert heading == f"{METRICS[inc.metric].title} dropped to 50% (usually 2.0%) {split_words}", heading
    else:
        assert heading == f"{METRICS[inc.metric].title} dropped 80% {split_words}", heading
    assert len(at.get("plotly_chart")) >= 1


@pytest.mark.parametrize("key", ["b2000000000000m2", "d4000000000000m2"])
def test_hostile_names_stay_text(app, key):
    at = open_page("merchant", link=key)
    causes = frame(at, "evidence")
    if key.startswith("b"):  # hostile cause label and evidence
        assert causes["cause"][0] == HOSTILE and causes["evidence"][0] == f"{HOSTILE} was out of stock"
    else:  # a hostile region name: in the heading (a code span), the facts and the cause (grids)
        facts = frame(at, "about")
        assert dict(zip(facts["about"], facts["detail"]))["Series"] == f"Orders, region {HOSTILE}"
        assert HOSTILE in at.subheader[0].value
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, bad
    run(at.button(key="al_back").click())  # the list: titles hold the name too
    assert any(HOSTILE in t for t in frame(at, "title")["title"].to_list())
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, bad


# ---------------------------------------------------------------------------------------------- workflow


def test_workflow_writes_the_store_and_shows(app):
    key = "c3000000000000m2"
    at = open_page("merchant", al_pick=pick_of(key))
    assert at.selectbox(key="al_pick").value == pick_of(key)
    store = the_store(app)
    who = alert_data.store_principal(PRINCIPALS["merchant"])

    def state():
        return store.alerts.states(who, alert_kind="incident", merchant_ids=[2]).get((2, key))

    try:
        run(at.button(key="al_ack").click())
        assert state().acknowledged_by == "shop2"
        assert any("Acknowledged" in s.value for s in at.success)
        at.selectbox(key="al_assignee").set_value("shop2b")
        run(at.button(key="al_assign").click())
        assert state().assignee == "shop2b"
        offered = at.selectbox(key="al_assignee").options
        assert not any("(shop1)" in o or "(ops2)" in o for o in offered)  # no other merchant's user, no staff
        run(at.button(key="al_useful").click())
        run(at.button(key="al_not_useful").click())
        assert (state().useful_votes, state().not_useful_votes) == (1, 1)
        at.text_input(key="al_comment").input(HOSTILE)
        run(at.button(key="al_comment_add").click())
        run(at.button(key="al_snooze").click())
        assert state().snoozed_until > store.now()
        run(at.selectbox(key="al_state").set_value("snoozed"))
        assert frame(at, "title")["status_text"].to_list()[0].startswith("Snoozed until")
        run(at.button(key="al_resolve").click())  # no reason: refused, nothing written
        assert any("Say why" in e.value for e in at.error) and state().resolved_reason is None
        at.text_input(key="al_reason").input("carrier outage, fixed")
        run(at.button(key="al_resolve").click())
        assert state().resolved_reason == "carrier outage, fixed"
        run(at.selectbox(key="al_state").set_value("resolved"))
        assert frame(at, "title")["status_text"].to_list() == ["Resolved: carrier outage, fixed"]
        history = frame(at, "action_text")["action_text"].to_list()
        assert history[0] == "resolved: carrier outage, fixed" and f"comment: {HOSTILE}" in history
        assert history[-1] == "found by the alerts check"  # the check's audit entry, oldest
        assert [a.action for a in store.alerts.history(who, merchant_id=2, alert_key=key, alert_kind="incident")] == [
            "acknowledge", "assign", "feedback", "feedback", "comment", "snooze", "resolve"]
        audit = store.audit.entries(alert_data.store_principal(PRINCIPALS["admin"]), merchant_ids=[2],
                                    entity="alert:incident")
        assert [e.action for e in audit if e.entity_id == key][-1] == "resolve"
        # a stock-out alert in the same list takes the same actions, under its own kind
        run(at.selectbox(key="al_state").set_value("active"))
        run(at.selectbox(key="al_pick").set_value("stockout|2|product:7@store:1"))
        run(at.button(key="al_ack").click())
        stock = store.alerts.states(who, alert_kind="stockout", merchant_ids=[2])
        assert stock[2, "product:7@store:1"].acknowledged_by == "shop2"
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- rules


def test_rules_editor_saves_a_revision_and_refuses_bad_input(app):
    from data.store.alert_rules import AlertRules

    at = open_page("merchant")
    run(at.radio(key="al_view").set_value("rules"))
    assert not has(at.selectbox, "al_rules_merchant")  # a merchant edits their own only
    rules_table = frame(at, "rule_text")
    assert rules_table.height == sum(len(m.dimensions) for m in METRICS.values())
    store = the_store(app)
    who = alert_data.store_principal(PRINCIPALS["merchant"])
    try:
        before = len(AlertRules(store).history(who, 2))
        run(at.selectbox(key="al_rule_pick").set_value("orders/channel"))
        at.text_input(key="al_rule_quiet").input("1-3, 25")
        run(at.button(key="al_rule_save").click())
        assert any("25 is not an hour" in e.value for e in at.error)
        assert len(AlertRules(store).history(who, 2)) == before
        at.text_input(key="al_rule_quiet").input("23-1")
        at.slider(key="al_rule_sensitivity").set_value(0.8)
        at.selectbox(key="al_rule_direction").set_value("spike")
        run(at.button(key="al_rule_save").click())
        history = AlertRules(store).history(who, 2)
        assert len(history) == before + 1 and history[-1].actor == "shop2"
        saved = {(r["metric"], r["dimension"]): r for r in history[-1].body["rules"]}
        assert saved["orders", "channel"]["quiet_hours"] == [0, 1, 23]
        assert saved["orders", "channel"]["sensitivity"] == pytest.approx(0.8)
        assert saved["orders", "channel"]["direction"] == "spike"
        defaults = {(r["metric"], r["dimension"]): r for r in alert_rules_form.default_rules()}
        assert saved["orders", "region"] == defaults["orders", "region"]  # the others carried over
        shown = frame(at, "rule_text").filter(pl.col("rule_text") == "Orders, by channel").row(0, named=True)
        assert shown["quiet_text"] == "0-1, 23" and shown["direction_text"] == "Spike"
        # feedback per rule: each person's latest answer on the orders/channel incidents (the workflow test, if it
        # ran first, clicked Useful then Not useful there: one vote, not useful)
        latest = {}
        for key, inc in SEEDED.items():
            if inc.merchant_id == 2 and inc.metric == "orders" and inc.dimension == "channel":
                for a in store.alerts.history(who, merchant_id=2, alert_key=key, alert_kind="incident"):
                    if a.action == "feedback":
                        latest[key, a.actor] = a.reason
        assert (shown["useful"], shown["not_useful"]) == (sum(r == "useful" for r in latest.values()),
                                                          sum(r != "useful" for r in latest.values()))
        # channels: a bad URL is refused with the reason, a good one is shown masked
        at.text_input(key="al_ch_label").input("Ops hook")
        at.text_input(key="al_ch_url").input("nosuchscheme://secret-token-123")
        run(at.button(key="al_ch_add").click())
        assert any("apprise cannot use" in e.value and "secret-token-123" not in e.value for e in at.error)
        at.text_input(key="al_ch_url").input("json://alerts:s3cretT0ken@hooks.example.com/alerts")
        run(at.button(key="al_ch_add").click())
        channels = frame(at, "masked_url")
        assert channels["channel"].to_list() == ["Ops hook"]
        assert "s3cretT0ken" not in channels["masked_url"][0]
    finally:
        store.close()


def test_staff_pick_the_merchant_whose_rules_they_edit(app):
    from data.store.alert_rules import AlertRules

    at = open_page("operations")
    run(at.radio(key="al_view").set_value("rules"))
    run(at.selectbox(key="al_rules_merchant").set_value(3))
    at.selectbox(key="al_owner_3").set_value("ops2")
    run(at.button(key="al_owner_save").click())
    store = the_store(app)
    try:
        body = AlertRules(store).get(alert_data.store_principal(PRINCIPALS["operations"]), 3)
        assert body["owner"] == "ops2" and body["saved"]
    finally:
        store.close()


def test_quiet_hours_read_and_written_back():
    parse, text = alert_rules_form.parse_hours, alert_rules_form.hours_text
    assert parse("0-6, 23") == [0, 1, 2, 3, 4, 5, 6, 23]
    assert parse("22-2") == [0, 1, 2, 22, 23] and parse(" ") == [] and parse("5;5, 4") == [4, 5]
    for hours in ([], [3], [0, 1, 2, 22, 23], list(range(24)), [1, 3, 5, 6, 7]):
        assert parse(text(hours)) == hours
    for bad, words in (("24", "24 is not an hour"), ("a", "'a' is not an hour"), ("1-2-3", "'1-2-3'"),
                       ("7-", "'7-'"), ("-1", "'-1'"), ("²", "'²' is not an hour"), ("1-³", "'1-³'")):
        with pytest.raises(ValueError, match=words):
            parse(bad)


def test_system_events_read_the_audit_entries():
    from dashboard.alert_workflow import system_events
    from data.store.audit import AuditEntry

    at = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.timezone.utc)

    def entry(action, after):
        return AuditEntry(1, at, "alert-detection", 2, "alert:incident", "k", action, None, after, None)

    events = system_events([entry("detect", {"score": 6}), entry("notify", {"channel": "c1", "attempts": 1}),
                            entry("notify_failed", {"channel": "gone", "attempts": 10}),
                            entry("acknowledge", {"acknowledged_by": "x"})], {"c1": "Ops on Slack"})
    assert [e[2] for e in events] == ["found by the alerts check", "notification sent to Ops on Slack",
                                      "notification to a removed channel given up after 10 attempts"]
    assert events[0][0] == dt.datetime(2026, 11, 2, 9, 30)  # naive UTC for the grid
