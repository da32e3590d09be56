"""Root-cause hints: given the planted hours of each demo incident, the planted region (outages) or "site-wide"
(bad days) ranks first in most (figures with -s); the drill-down's observed counts equal plain SQL; hints carry data names as plain text."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import pytest

from data.access import DataAccess, Scope
from models.alerts import causes
from models.alerts.detection import Frames
from models.alerts.incidents import Incident, dimension_breakdown


@pytest.fixture(scope="module")
def con(demo_warehouse):
    c = duckdb.connect(str(demo_warehouse), read_only=True)
    yield c
    c.close()


def _access(con, m):
    return DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))


def _draft(m, start, end, dimension="total", value=None):
    return Incident(m, "k", "orders", dimension, value, "drop", start, end, 0, 0, 0, 0, 9.0, (), ())


def test_planted_cause_ranks_first_on_every_planted_incident(con):
    rows = con.cursor().sql("SELECT incident_id, merchant_id, kind, region, start_ts, end_ts FROM truth.incidents "
                            "ORDER BY 1").fetchall()
    merchants = [r[0] for r in con.cursor().sql("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    right, total = 0, 0
    for iid, m, kind, region, start, end in rows:
        for mid in [m] if m is not None else merchants:
            frames = Frames(_access(con, mid), mid, start, end, "hour")
            ranked = causes.rank_causes(frames, _draft(mid, start, end))
            top = ranked[0] if ranked else None
            ok = top is not None and (region in top.label if region else top.label.startswith("Site-wide"))
            print(iid, mid, kind, region, "->", top.label if top else None, round(top.weight, 2) if top else None)
            right += ok
            total += 1
    print(f"planted region or site-wide ranked first, given the planted hours: {right} of {total}")
    # Measured 12 of 16: the misses are outages whose region lost 2-4 orders while the merchant's whole day ran
    # 30-40% under its expected level (the site-wide hint wins) and one category that fell by chance.
    assert right >= 0.7 * total


def test_breakdown_matches_plain_sql(con):
    start, end = dt.datetime(2026, 2, 14, 13), dt.datetime(2026, 2, 14, 20)
    got = dimension_breakdown(_access(con, 4), 4, "orders", "region", start, end)
    want = dict(con.cursor().execute(
        "SELECT coalesce(o.shipping_region, s.region, '(no region)'), count(*) FROM orders o "
        "LEFT JOIN stores s ON o.store_id = s.store_id WHERE o.merchant_id = 4 AND o.order_type = 'sale' "
        "AND o.status <> 'cancelled' AND o.order_ts >= ? AND o.order_ts < ? GROUP BY 1", [start, end]).fetchall())
    observed = {v: o for v, o in zip(got["value"], got["observed"]) if o}
    assert observed == {k: float(v) for k, v in want.items()}
    assert got["share"].sum() == pytest.approx(1.0)
    assert got["expected"].sum() > got["observed"].sum()  # the planted outage: fewer orders than expected


def test_hint_text_keeps_names_as_plain_data(con):
    start, end = dt.datetime(2026, 2, 14, 13), dt.datetime(2026, 2, 14, 20)
    frames = Frames(_access(con, 4), 4, start, end, "hour")
    for c in causes.rank_causes(frames, _draft(4, start, end)):
        assert isinstance(c.label, str) and isinstance(c.evidence, str) and 0 <= c.weight <= 1
        assert "\n" not in c.label


def test_processor_failures_name_the_region_of_their_orders(con):
    """For each planted outage, the failures cause names the outage's region, and its counts equal plain SQL."""
    outages = con.cursor().sql("SELECT merchant_id, region, start_ts, end_ts FROM truth.incidents "
                               "WHERE kind = 'payment_outage' ORDER BY 1").fetchall()
    named = 0
    for m, region, start, end in outages:
        end = end + dt.timedelta(hours=1)  # a buyer's retries may run past the planted end
        by_region = dict(con.cursor().execute(
            "SELECT coalesce(o.shipping_region, s.region), count(*) FROM payments p JOIN orders o USING (order_id) "
            "LEFT JOIN stores s ON o.store_id = s.store_id WHERE p.merchant_id = ? "
            "AND p.auth_result = 'declined_processing_error' AND p.paid_ts >= ? AND p.paid_ts < ? GROUP BY 1",
            [m, start, end]).fetchall())
        if sum(by_region.values()) < 2:
            continue
        draft = Incident(m, "k", "payment_failures", "total", None, "spike", start, end, 0, 0, 0, 0, 9.0, (), ())
        found = [c for c in causes.rank_causes(Frames(_access(con, m), m, start, end, "hour"), draft)
                 if c.label.startswith("Payments failing at the processor")]
        assert found, (m, region, start)
        assert found[0].label == f"Payments failing at the processor in {region}"
        assert f"{by_region[region]} of the {sum(by_region.values())} were for orders in {region}" in found[0].evidence
        named += 1
    assert named >= 6  # at demo size an outage turns away 1-7 buyers: nearly every one leaves two failures
