"""Detection against the planted truth of the demo warehouse (truth.incidents), figures printed with -s.

Detection runs once per merchant over the whole demo span (each flag uses only earlier data, so this equals
checking hour by hour). Planted: regional payment outages (one merchant, one region, 5-9 hours, 80-95% of the
region's orders lost) and site-wide bad days (every merchant, 16 hours, 50-65% lost). A planted incident is
detected when an incident of its merchant overlaps its hours (bad days: counted per merchant).

At demo size a region loses only 2-6 orders over a whole outage; ``oracle_probability`` is the tail probability
of the outage's observed orders given its region's usual share of the merchant's orders over exactly the
planted hours (no detector can do better than knowing the window). Most outages have an oracle probability of
0.002-0.3: at demo size they look like ordinary hours. The test asserts every planted incident with an oracle
probability below ``CLEAR`` is found, at most one false incident per merchant per month and the planted cause
ranked first in 80% of those found; it prints the detection rate against all of them (the issue asks 90%, which
this data does not allow; see the README).
"""

from __future__ import annotations

import datetime as dt
import statistics

import duckdb
import ibis
import numpy as np
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models.alerts import scoring
from models.alerts.detection import Frames
from models.alerts.incidents import find_incidents

SINCE = dt.datetime(2025, 1, 6)  # 9 weeks of history before the first hour scored
SLACK = dt.timedelta(hours=2)
CLEAR = 1e-6  # oracle probability below which a planted incident must be found
ORACLE_P = 10 ** -2.9  # the evidence the default orders rule asks for (sensitivity 0.9), without window correction


@pytest.fixture(scope="module")
def run(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    until = con.execute("SELECT date_trunc('day', max(order_ts)) + INTERVAL 1 DAY FROM orders").fetchall()[0][0]
    truth = pl.from_arrow(con.cursor().sql("SELECT * FROM truth.incidents ORDER BY incident_id").to_arrow_table())
    merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    found = {}
    for m in merchants:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        found[m] = find_incidents(access, m, since=SINCE, until=until)
    yield con, truth, merchants, found, until
    con.close()


def _planted(truth: pl.DataFrame, merchants: list[int]):
    for r in truth.iter_rows(named=True):
        for m in ([r["merchant_id"]] if r["merchant_id"] is not None else merchants):
            yield m, r


def oracle_probability(con, m: int, r: dict) -> float:
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
    frames = Frames(access, m, r["start_ts"], r["end_ts"], "hour")
    f = frames.get("orders", "region" if r["region"] else "total")
    f = f.filter(pl.col("value") == (r["region"] or "all"), pl.col("ts") >= r["start_ts"], pl.col("ts") < r["end_ts"])
    extra = float(f["u"].max() or 0.0) if not r["region"] else 0.0  # a special day's guessed level (totals only)
    return float(scoring.count_tail(np.array([f["n"].sum()]), np.array([f["c_n"].sum()]), True,
                                    scoring.DISPERSION + extra)[0])


def oracle_delay(con, m: int, r: dict) -> float | None:
    """Hours from the planted start to the end of the first hour by which a detector that knew the start could
    have known: the orders since the start (its region's, for an outage) have a tail probability below ``ORACLE_P``,
    or (an outage) two payments have failed at the processor. None: never within the planted hours."""
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
    frames = Frames(access, m, r["start_ts"], r["end_ts"], "hour")
    f = frames.get("orders", "region" if r["region"] else "total")
    f = f.filter(pl.col("value") == (r["region"] or "all"), pl.col("ts") >= r["start_ts"],
                 pl.col("ts") < r["end_ts"]).sort("ts")
    extra = float(f["u"].max() or 0.0) if not r["region"] else 0.0
    tail = scoring.count_tail(f["n"].cum_sum().to_numpy(), f["c_n"].cum_sum().to_numpy(), True,
                              scoring.DISPERSION + extra)
    hours = [h + 1 for h in range(len(tail)) if tail[h] < ORACLE_P]
    if r["region"]:
        failed = con.cursor().execute(
            "SELECT paid_ts FROM payments WHERE merchant_id = ? AND auth_result = 'declined_processing_error' "
            "AND paid_ts >= ? AND paid_ts < ? ORDER BY paid_ts", [m, r["start_ts"], r["end_ts"]]).fetchall()
        if len(failed) >= 2:
            hours.append(int((failed[1][0] - r["start_ts"]).total_seconds() // 3600) + 1)
    return float(min(hours)) if hours else None


def card_testing_hours(con) -> dict[int, list[dt.datetime]]:
    """Hours with planted card-testing fraud (bursts of declined payments) per merchant: real events the
    decline rules should flag, planted in truth.fraud rather than truth.incidents."""
    rows = con.cursor().sql(
        "SELECT DISTINCT p.merchant_id, date_trunc('hour', p.paid_ts) FROM truth.fraud f "
        "JOIN payments p USING (payment_id) WHERE f.pattern = 'card_testing'").fetchall()
    out: dict[int, list[dt.datetime]] = {}
    for m, h in rows:
        out.setdefault(m, []).append(h)
    return out


def test_planted_incidents(run):
    con, truth, merchants, found, until = run
    detected, delays, oracle_delays, onsets, ranked, feasible_missed, rows = 0, [], [], [], [], [], []
    matched: set[str] = set()
    planted = list(_planted(truth, merchants))
    for m, r in planted:
        hits = [i for i in found[m] if i.start < r["end_ts"] + SLACK and i.end > r["start_ts"]]
        oracle = oracle_probability(con, m, r)
        if hits:
            detected += 1
            matched.update(i.key for i in hits)
            first = min(hits, key=lambda i: i.detected_at)
            delays.append((first.detected_at + dt.timedelta(hours=1) - r["start_ts"]).total_seconds() / 3600)
            best = oracle_delay(con, m, r)
            oracle_delays.append(best if best is not None else (r["end_ts"] - r["start_ts"]).total_seconds() / 3600)
            onsets.append((first.start - r["start_ts"]).total_seconds() / 3600)
            top = max(hits, key=lambda i: i.score).causes[:1]
            top_label = top[0].label if top else "no cause"
            if r["region"]:  # the region, by its orders or by its payments failing at the processor
                ranked.append(bool(top) and top[0].kind in ("dimension", "declines") and r["region"] in top[0].label)
            else:
                ranked.append(bool(top) and top[0].label.startswith("Site-wide"))
        elif oracle < CLEAR:
            feasible_missed.append((r["incident_id"], m))
        rows.append((r["incident_id"], m, r["kind"], r["region"], str(r["start_ts"]), bool(hits), f"{oracle:.2g}",
                     top_label if hits else "", f"{delays[-1]:.0f} h (oracle {oracle_delays[-1]:.0f} h)" if hits else ""))
    months = (until - SINCE).days / 30.44
    fraud = card_testing_hours(con)
    fraud_explained = {i.key for m in merchants for i in found[m] if i.key not in matched
                       and any(i.start - SLACK <= h < i.end for h in fraud.get(m, []))}
    false = sum(1 for m in merchants for i in found[m] if i.key not in matched and i.key not in fraud_explained)
    by_rule: dict[str, int] = {}
    for m in merchants:
        for i in found[m]:
            if i.key not in matched:
                name = f"{i.metric}/{i.dimension}/{i.direction}"
                by_rule[name] = by_rule.get(name, 0) + 1
    print("\nfalse incidents by lead series:", dict(sorted(by_rule.items(), key=lambda kv: -kv[1])))
    print("planted incidents (id, merchant, kind, region, start, detected, oracle probability, first cause, delay):")
    for row in rows:
        print("  ", row)
    print(f"detected {detected} of {len(planted)} ({detected / len(planted):.0%}; issue target 90%)")
    print(f"incidents on planted card-testing fraud bursts (truth.fraud; not counted as false): "
          f"{len(fraud_explained)}")
    print(f"false incidents: {false} over {len(merchants)} merchants x {months:.1f} months = "
          f"{false / (len(merchants) * months):.2f} per merchant per month (target <= 1)")
    if delays:
        print(f"median detection delay (end of the first flagged hour - planted start): "
              f"{statistics.median(delays):.1f} h; median onset error (incident start - planted start): "
              f"{statistics.median(onsets):.1f} h; an oracle that knew each start: {statistics.median(oracle_delays):.1f} h "
              f"(the issue asks 2 h; at demo volume the evidence itself takes longer to arrive)")
        print(f"planted region or cause ranked first: {sum(ranked)} of {len(ranked)} detected "
              f"({sum(ranked) / len(ranked):.0%}; target 80%)")
    assert not feasible_missed, f"planted incidents a detector could see were missed: {feasible_missed}"
    assert false / (len(merchants) * months) <= 1.0
    assert sum(ranked) >= 0.8 * len(ranked)
    assert detected >= 0.9 * len(planted)
    # Detection comes at most two hours after the evidence does (median), with the data the demo holds.
    assert statistics.median(delays) <= statistics.median(oracle_delays) + 2


def test_scope_reads_only_its_merchant(run):
    con, truth, merchants, found, until = run
    for m in merchants:
        assert all(i.merchant_id == m for i in found[m])
    # A DataAccess scoped to merchant 1 asked for merchant 2 finds nothing: the scope filters every read.
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([merchants[0]]))
    other = merchants[1]
    frames = Frames(access, other, dt.datetime(2025, 6, 1), dt.datetime(2025, 6, 8), "hour")
    assert frames.get("orders", "total")["n"].sum() == 0
    assert frames.get("orders", "region")["n"].sum() == 0
    assert find_incidents(access, other, since=dt.datetime(2025, 6, 1), until=dt.datetime(2025, 6, 8)) == []


def test_rerun_later_gives_the_same_incident_keys(run):
    con, truth, merchants, found, until = run
    m = merchants[-1]
    bad = next(r for r in truth.iter_rows(named=True) if r["merchant_id"] is None and r["start_ts"].year == 2026)
    in_full = {i.key for i in found[m] if i.start < bad["end_ts"] and i.end > bad["start_ts"]}
    assert in_full, "the bad day of the last merchant should be found (it is, on the demo truth)"
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
    day = dt.datetime.combine(bad["start_ts"].date(), dt.time())
    first = {i.key for i in find_incidents(access, m, since=day, until=day + dt.timedelta(days=1))}
    later = {i.key for i in find_incidents(access, m, since=day, until=day + dt.timedelta(days=2))}
    assert in_full <= first <= later  # the same key from a daily check, a later one and the whole-span run


def test_anomaly_detector_kind_trains_through_the_model_layer(run, tmp_path):
    from models import registry
    from models.alerts import detectors
    from models.artifacts import ModelStore

    con, truth, merchants, found, until = run
    store = ModelStore(tmp_path, key=b"alerts-test-key-" + b"k" * 32)
    saved = registry.train(detectors.KEY, lambda: ibis.duckdb.from_connection(con.cursor()), merchants[0], 1, store)
    loaded = store.load(detectors.KEY, merchants[0])
    matrix = detectors.load_training(loaded.payload)
    assert matrix.shape[1] == len(detectors.COLUMNS) and matrix.shape[0] >= detectors.TRAIN_DAYS * 24 * 0.9
    assert saved.version == loaded.version
    with pytest.raises(ValueError, match="not an anomaly_detector payload"):
        detectors.load_training(b"\x00\x00\x00\x02{}garbage")
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([merchants[0]]))
    day = until - dt.timedelta(days=1)
    with_saved = find_incidents(access, merchants[0], since=day, until=until, detector=loaded.payload)
    assert all(i.merchant_id == merchants[0] for i in with_saved)


def test_last_hour_conversion_waits_for_open_sessions(run):
    con, truth, merchants, found, until = run
    m = merchants[0]
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
    last = con.cursor().execute("SELECT max(event_ts) FROM interactions WHERE merchant_id = ?", [m]).fetchall()[0][0]
    live = Frames(access, m, until - dt.timedelta(days=1), until, "hour")  # the data stops inside the window
    assert live.open_sessions_from == last - dt.timedelta(hours=1)
    past = Frames(access, m, until - dt.timedelta(days=30), until - dt.timedelta(days=29), "hour")
    assert past.open_sessions_from == until - dt.timedelta(days=29)  # later events exist: every session is whole
    # The sessions of the last hours before a past ``until`` keep the purchases made after it.
    s = past.get("sessions", "total")
    bought = con.cursor().execute(
        "SELECT count(*) FROM (SELECT session_id, min(event_ts) AS f, bool_or(event_type = 'purchase') AS b "
        "FROM interactions WHERE merchant_id = ? GROUP BY 1) WHERE f >= ? AND f < ? AND b",
        [m, until - dt.timedelta(days=29, hours=3), until - dt.timedelta(days=29)]).fetchall()[0][0]
    tail = s.filter(pl.col("ts") >= until - dt.timedelta(days=29, hours=3))
    assert tail["k"].sum() == bought


def test_rate_band_and_breakdown_read_less_history_with_the_same_values(run, monkeypatch):
    # The incident view draws conversion and declines from a shorter read (RATE_HISTORY_DAYS); the values must
    # equal those of the full history every detection uses.
    from polars.testing import assert_frame_equal

    from models.alerts import grouping
    from models.alerts.expected import HISTORY_DAYS
    from models.alerts.incidents import dimension_breakdown, metric_band

    con, truth, merchants, found, until = run
    cases = [(merchants[0], "conversion", "channel", "web", dt.datetime(2025, 6, 22, 18), 30),
             (merchants[1], "conversion", "total", None, dt.datetime(2026, 3, 1, 0), 48),
             (merchants[-1], "payment_declines", "payment_method", "card", dt.datetime(2025, 11, 28, 5), 20)]
    for m, metric, dim, value, since, hours in cases:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        end = since + dt.timedelta(hours=hours)
        short = (metric_band(access, m, metric, dim, value, since, end),
                 dimension_breakdown(access, m, metric, "channel" if metric == "conversion" else dim, since, end))
        with monkeypatch.context() as patch:
            patch.setattr(grouping, "_history_days", lambda _metric: HISTORY_DAYS)
            full = (metric_band(access, m, metric, dim, value, since, end),
                    dimension_breakdown(access, m, metric, "channel" if metric == "conversion" else dim, since, end))
        assert short[0].height == hours and short[0]["observed"].drop_nans().len() > 0
        assert short[1].height >= 2
        assert_frame_equal(short[0], full[0])
        assert_frame_equal(short[1], full[1])
    assert grouping._history_days("conversion") < grouping._history_days("orders") == HISTORY_DAYS
