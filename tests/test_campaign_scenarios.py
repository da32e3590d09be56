"""Saved campaign scenarios in the operational store, on SQLite and PostgreSQL: revisions with author and
time, deletion as a revision, bodies checked, text kept verbatim, and a merchant's people never seeing or
touching another merchant's scenarios."""

from __future__ import annotations

import pytest

from data.store import InvalidValue, OutOfScope, Principal, RequestIdReused
from data.store.campaign_scenarios import SECTIONS, Scenarios, check_body
from tests.store_support import postgres_server, store, store_url  # noqa: F401

STAFF = Principal.staff("analyst-staff")
SHOP1 = Principal.merchants("shop1-analyst", [1])
SHOP2 = Principal.merchants("shop2-analyst", [2])
HOSTILE = "<b>=HYPERLINK(\"https://evil.example\")</b> [click](https://evil.example) **bold**"


def body(profit: float = 100.0) -> dict:
    return {"audience": {"kind": "segment", "label": "Champions", "customers": 120},
            "offer": {"kind": "discount", "discount_pct": 20.0, "categories": ["candles", "cards & wrap"],
                      "cost_per_contact": 0.05, "fixed_costs": 250.0, "days": 14},
            "response": {"source": "learned", "uplift_low": 1.1, "uplift_high": 1.5, "based_on": [10001, 10004]},
            "result": {"expected_profit": profit, "roi_median": float("nan"), "loss_probability": 0.2},
            "design": {"holdout_share": 0.1, "power": 0.8, "seed": 7}}


def test_save_revise_delete_and_history(store):
    scenarios = Scenarios(store)
    first = scenarios.save(SHOP1, 1, "Spring candles", body(100.0), request_id="s-1", note="first try")
    assert (first.revision, first.author, first.merchant_id) == (1, "shop1-analyst", 1)
    assert first.body["result"]["roi_median"] is None  # an undefined figure is stored as none
    again = scenarios.save(SHOP1, 1, "Spring candles", body(100.0), request_id="s-1", note="first try")
    assert (again.document_id, again.revision) == (first.document_id, 1)  # a re-sent save is the same save
    second = scenarios.save(STAFF, 1, "Spring candles", body(250.0), request_id="s-2")
    assert second.document_id == first.document_id and second.revision == 2
    listed = scenarios.list(SHOP1, 1)
    assert [s.body["result"]["expected_profit"] for s in listed] == [250.0]
    history = scenarios.history(SHOP1, first.document_id)
    assert [(h.revision, h.author) for h in history] == [(1, "shop1-analyst"), (2, "analyst-staff")]
    assert history[0].saved_at <= history[1].saved_at
    with pytest.raises(RequestIdReused):  # that request id now names an older change
        scenarios.save(SHOP1, 1, "Spring candles", body(100.0), request_id="s-1", note="first try")
    scenarios.delete(SHOP1, listed[0], request_id="s-3")
    assert scenarios.list(SHOP1, 1) == []
    assert len(scenarios.history(STAFF, first.document_id)) == 3


def test_merchant_scope_isolation(store):
    scenarios = Scenarios(store)
    theirs = scenarios.save(SHOP2, 2, "Shop two secret", body(), request_id="m2-1")
    scenarios.save(SHOP1, 1, "Shop one", body(), request_id="m1-1")
    assert [s.name for s in scenarios.list(SHOP1, 1)] == ["Shop one"]
    with pytest.raises(OutOfScope):
        scenarios.list(SHOP1, 2)
    with pytest.raises(OutOfScope):
        scenarios.save(SHOP1, 2, "Sneaky", body(), request_id="x-1")
    with pytest.raises(OutOfScope):
        scenarios.history(SHOP1, theirs.document_id)
    with pytest.raises(OutOfScope):
        scenarios.delete(SHOP1, theirs, request_id="x-2")
    assert [s.name for s in scenarios.list(STAFF, 2)] == ["Shop two secret"]


def test_markup_in_names_and_notes_is_kept_verbatim(store):
    scenarios = Scenarios(store)
    saved = scenarios.save(SHOP1, 1, HOSTILE[:120], {**body(), "audience": {"label": HOSTILE}},
                           request_id="h-1", note=HOSTILE)
    got = scenarios.list(SHOP1, 1)[0]
    assert (got.name, got.note, got.body["audience"]["label"]) == (HOSTILE[:120], HOSTILE, HOSTILE)
    assert saved.document_id == got.document_id


@pytest.mark.parametrize("bad", [
    {},
    {**body(), "extra": {}},
    {**body(), "offer": ["not", "a", "mapping"]},
    {**body(), "offer": {"discount_pct": object()}},
    {**body(), "offer": {"categories": ["x"] * 501}},
    {**body(), "audience": {"label": "nul\x00byte"}},
    {**body(), "audience": {"label": "x" * 401}},
])
def test_broken_bodies_are_refused(bad):
    with pytest.raises(InvalidValue):
        check_body(bad)


def test_sections_are_the_documented_ones():
    assert set(body()) == set(SECTIONS)
    with pytest.raises(InvalidValue):
        Scenarios.save(Scenarios.__new__(Scenarios), SHOP1, 1, "  ", body(), request_id="n")


def test_a_re_clicked_save_of_the_same_scenario_stores_no_second_revision(store):
    # The page gives every click a new request id, so a double click used to store the same scenario twice.
    scenarios = Scenarios(store)
    first = scenarios.save(SHOP1, 1, "Spring candles", body(), request_id="c-1", note="as planned")
    again = scenarios.save(SHOP1, 1, "Spring candles", body(), request_id="c-2", note="as planned")
    assert (again.revision, again.request_id) == (1, "c-1")
    assert len(scenarios.history(SHOP1, first.document_id)) == 1
    changed = scenarios.save(SHOP1, 1, "Spring candles", body(), request_id="c-3", note="new note")
    assert changed.revision == 2  # a changed note (or body) is a new revision
    assert scenarios.save(SHOP1, 1, "Spring candles", body(99.0), request_id="c-4", note="new note").revision == 3
