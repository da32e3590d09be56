"""Anomalies grouped into incidents, and the series the Alerts page draws (behind ``incidents``' entry points).

Two anomalies belong to one incident when their flagged spans (onset .. flagged period) overlap or touch
(at most one period apart), whatever metric or dimension they are on; a drop and a spike when they were flagged
in the same or adjacent periods: a regional payment outage shows as fewer orders in the region, less revenue and
more declines in the same hours, and is one incident. The lead
anomaly (the highest score) names the incident; the key comes from the first anomaly flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from data.access import DataAccess
from models.alerts import causes as cause_rules
from models.alerts import scoring, series
from models.alerts.detection import RATE_HISTORY_DAYS, Frames, band, detect_rule, metric_parts, step
from models.alerts.expected import HISTORY_DAYS
from models.alerts.incidents import DIRECTIONS, Anomaly, Incident, incident_key
from models.alerts.watch import DEFAULT_RULES, DIMENSIONS, METRICS, WatchRule

_METRIC_ORDER = {m: i for i, m in enumerate(METRICS)}
_DIM_ORDER = {d: i for i, d in enumerate(DIMENSIONS)}


def _order(a: Anomaly) -> tuple:
    return (a.ts, _METRIC_ORDER.get(a.metric, 99), _DIM_ORDER.get(a.dimension, 99), a.dimension_value or "")


def group_anomalies(anomalies: Sequence[Anomaly], grain: str = "hour") -> list[list[Anomaly]]:
    """Anomalies of one merchant in incidents. Two of the same direction join when their spans [onset, ts] overlap
    or are at most one period apart; a drop and a spike join only when they were flagged in the same or adjacent
    periods: a long window of a drop reaches back hours before its flag, and must not pull an earlier, unrelated
    burst of declines (card testing at night) into the morning's fall of orders."""
    gap = step(grain)
    items = sorted(anomalies, key=lambda x: (x.onset, _order(x)))
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        parent[root(j)] = root(i)

    for direction in DIRECTIONS:  # same direction: overlapping or touching spans, swept by onset
        last, end = None, None
        for i, a in enumerate(items):
            if a.direction != direction:
                continue
            if last is not None and a.onset <= end + gap:
                join(last, i)
                end = max(end, a.ts)
            else:
                last, end = i, a.ts
    latest: dict[str, int] = {}  # across directions: flagged in the same or adjacent periods, swept by flag time
    for i in sorted(range(len(items)), key=lambda k: items[k].ts):
        a = items[i]
        for other, j in latest.items():
            if other != a.direction and items[j].ts >= a.ts - gap:
                join(j, i)
        latest[a.direction] = i
    groups: dict[int, list[Anomaly]] = {}
    for i, a in enumerate(items):
        groups.setdefault(root(i), []).append(a)
    return sorted(groups.values(), key=lambda g: (g[0].onset, _order(g[0])))


def _series_sum(frames: Frames, metric: str, dimension: str, value: str | None, start: dt.datetime,
                end: dt.datetime) -> tuple[float, float, float, float]:
    f = frames.get(series.SOURCE_OF[metric], dimension)
    f = f.filter(pl.col("value") == (value or series.TOTAL), pl.col("ts") >= start, pl.col("ts") < end)
    if not f.height:
        return 0.0, 0.0, 0.0, 0.0
    kind, _, _, _, shown_o, shown_e = metric_parts(metric, f, conditional=False)
    o, e = float(np.nansum(shown_o)), float(np.nansum(shown_e))
    if METRICS[metric].kind in ("ratio", "mean"):  # a rate: report the value over the span, not a sum
        n = float(f["n"].sum())
        o, e = (o / n, e / n) if n else (0.0, 0.0)
        if METRICS[metric].kind == "ratio" and n:  # a share of n sessions or payments: its binomial range
            z = float(scoring.stats.norm.isf(10.0 ** -scoring.threshold(0.5)))
            sd = float(np.sqrt(max(e * (1 - e), 0.0) * (1 + scoring.DISPERSION * n) / n))
            return o, e, max(e - z * sd, 0.0), min(e + z * sd, 1.0)
        return o, e, e, e
    lo, hi = band(kind, np.array([e]), None, None, scoring.threshold(0.5))
    return o, e, float(lo[0]), float(hi[0])


def _change_point(frames: Frames, lead: Anomaly, earliest: dt.datetime, end: dt.datetime) -> dt.datetime:
    """Where the lead series' shortfall (or excess) began: the start in [earliest, lead.ts] that maximises the
    summed difference from expected up to ``end`` (a long window reaches back into ordinary hours; this trims it)."""
    if lead.window == 0:
        return earliest
    f = frames.get(series.SOURCE_OF[lead.metric], lead.dimension)
    f = f.filter(pl.col("value") == (lead.dimension_value or series.TOTAL), pl.col("ts") >= earliest,
                 pl.col("ts") < end)
    if not f.height:
        return earliest
    _, obs, exp, _, _, _ = metric_parts(lead.metric, f)
    centre = exp.get("e", exp.get("y"))
    diff = np.nan_to_num(centre - obs["y"]) if lead.direction == "drop" else np.nan_to_num(obs["y"] - centre)
    tail_sums = np.cumsum(diff[::-1])[::-1]  # sum from each start to the end
    latest = int(np.searchsorted(f["ts"].to_numpy(), np.datetime64(lead.ts), side="right"))
    best = int(np.argmax(tail_sums[:max(latest, 1)]))
    return f["ts"][best]


def build_incident(frames: Frames, group: Sequence[Anomaly]) -> Incident:
    first = min(group, key=_order)
    lead = max(group, key=lambda a: (a.score, -_order(a)[1]))
    end = max(a.ts for a in group) + step(frames.grain)
    start = _change_point(frames, lead, min(a.onset for a in group), end)
    observed, expected, low, high = _series_sum(frames, lead.metric, lead.dimension, lead.dimension_value, start, end)
    members = tuple(sorted(group, key=_order))
    draft = Incident(
        merchant_id=frames.merchant_id, key=incident_key(frames.merchant_id, first.metric, first.ts, frames.grain),
        metric=lead.metric, dimension=lead.dimension, dimension_value=lead.dimension_value,
        direction=lead.direction, start=start, end=end, observed=observed, expected=expected, low=low, high=high,
        score=lead.score, anomalies=members, causes=(), grain=frames.grain, detected_at=first.ts)
    return cause_rules.with_causes(frames, draft)


def find_incidents(access: DataAccess, merchant_id: int, *, since: dt.datetime, until: dt.datetime,
                   rules: Sequence[WatchRule] | None = None, grain: str = "hour",
                   detector: bytes | None = None) -> list[Incident]:
    if grain not in ("hour", "day"):
        raise ValueError(f"grain must be 'hour' or 'day', got {grain!r}")
    if until <= since:
        return []
    rules = DEFAULT_RULES if rules is None else tuple(rules)
    frames = Frames(access, merchant_id, since, until, grain)
    anomalies = [a for rule in rules for a in detect_rule(frames, rule)]
    from models.alerts import detectors

    anomalies += detectors.combined_anomalies(frames, [a for a in anomalies if a.dimension == "total"],
                                              detector=detector)
    incidents = [build_incident(frames, g) for g in group_anomalies(anomalies, grain)]
    return sorted(incidents, key=lambda i: (-i.score, i.start))


def _history_days(metric: str) -> int:
    """A rate or mean is drawn from its recent per-unit rate alone (no expected count): a shorter read, which
    for conversion is most of an incident view's time (sessions are grouped from their events)."""
    return RATE_HISTORY_DAYS if METRICS[metric].kind in ("ratio", "mean") else HISTORY_DAYS


def metric_band(access: DataAccess, merchant_id: int, metric: str, dimension: str, value: str | None,
                since: dt.datetime, until: dt.datetime, grain: str = "hour") -> pl.DataFrame:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    frames = Frames(access, merchant_id, since, until, grain, history_days=_history_days(metric))
    f = frames.get(series.SOURCE_OF[metric], dimension)
    f = f.filter(pl.col("value") == (value or series.TOTAL), pl.col("ts") >= since, pl.col("ts") < until)
    schema = {"ts": pl.Datetime("us"), "observed": pl.Float64, "expected": pl.Float64, "low": pl.Float64,
              "high": pl.Float64}
    if not f.height:
        return pl.DataFrame(schema=schema)
    kind, _, _, _, o, e = metric_parts(metric, f, conditional=False)
    if METRICS[metric].kind in ("ratio", "mean"):
        n = f["n"].to_numpy().astype(float)
        z = float(scoring.stats.norm.isf(10.0 ** -scoring.threshold(0.5)))
        with np.errstate(invalid="ignore", divide="ignore"):
            o, e = np.where(n > 0, o / n, np.nan), np.where(n > 0, e / n, np.nan)
            if METRICS[metric].kind == "ratio":  # a share of sessions or payments: binomial spread
                sd = np.sqrt(np.clip(e * (1 - e), 0, None) * (1 + scoring.DISPERSION * n) / n)
                lo, hi = np.clip(e - z * sd, 0, 1), np.clip(e + z * sd, 0, 1)
            else:  # a mean delay: spread of one delivery over the square root of the deliveries
                spread = np.sqrt(np.maximum(f["m2"].fill_null(np.nan).to_numpy() - f["m1"].fill_null(np.nan)
                                            .to_numpy() ** 2, 0.25) / n)
                lo, hi = e - z * spread, e + z * spread
    else:
        lo, hi = band(kind, e, None, None, scoring.threshold(0.5))
    return pl.DataFrame({"ts": f["ts"], "observed": o, "expected": e, "low": lo, "high": hi}, schema=schema)


def dimension_breakdown(access: DataAccess, merchant_id: int, metric: str, dimension: str,
                        since: dt.datetime, until: dt.datetime, grain: str = "hour") -> pl.DataFrame:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    frames = Frames(access, merchant_id, since, until, grain, history_days=_history_days(metric))
    return cause_rules.breakdown(frames, metric, dimension, since, until)
