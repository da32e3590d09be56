"""Per-series detection: a merchant's watched series with their expected parts, scored into anomalies.

``Frames`` reads each (source, dimension) once per detection run and adds the expected parts (see
``expected``): ``e_n`` the expected count (orders, sessions, payment attempts), ``c_n`` the count expected from
the value's share of the *observed* total (``e_n`` itself for the total), the recent per-unit rates ``rate``
(declines per attempt, purchases per session) and ``f_rate`` (processing errors per attempt), ``m1``/``m2`` (mean and mean square order amount, or delivery
delay). ``metric_parts`` turns them into what ``scoring.score_series`` needs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from data.access import DataAccess
from models.alerts import expected as ex
from models.alerts import scoring, series
from models.alerts.incidents import Anomaly
from models.alerts.watch import METRICS, WatchRule


def step(grain: str) -> dt.timedelta:
    return dt.timedelta(hours=1) if grain == "hour" else dt.timedelta(days=1)


def merchant_country(access: DataAccess, merchant_id: int) -> str | None:
    m = access.table("merchants")
    frame = access.to_polars(m.filter(m.merchant_id == int(merchant_id)).select("country"))
    return frame["country"][0] if frame.height else None


def promotions(access: DataAccess, merchant_id: int, first: dt.date, last: dt.date):
    """(id, start, end, whole catalogue in every channel) of the merchant's promotions touching [first, last]."""
    p = access.table("promotions")
    p = p.filter((p.merchant_id == int(merchant_id)) & (p.end_date >= first) & (p.start_date <= last))
    frame = access.to_polars(p.select("promotion_id", "start_date", "end_date", "category", "channel"))
    return [(r[0], r[1], r[2], r[3] is None and r[4] is None) for r in frame.iter_rows()]


def last_event(access: DataAccess, merchant_id: int, until: dt.datetime) -> dt.datetime:
    """The last session event before ``until + SESSION_MARGIN`` (``until`` when none)."""
    e = access.table("interactions")
    e = e.filter((e.merchant_id == int(merchant_id)) & (e.event_ts >= until - dt.timedelta(days=2))
                 & (e.event_ts < until + series.SESSION_MARGIN))
    value = access.scalar(e.event_ts.max())
    return value if value is not None else until


def daily_orders(access: DataAccess, merchant_id: int, first: dt.date, until: dt.datetime) -> pl.DataFrame:
    """day, total: non-cancelled sale orders per day from the daily rollup (a long span, read cheaply), every day."""
    r = access.table("rollup_orders_daily")
    r = r.filter((r.merchant_id == int(merchant_id)) & (r.day >= first) & (r.day < until.date()))
    frame = access.to_polars(r.group_by("day").aggregate(total=r.orders.sum()))
    days = pl.date_range(first, max(first, until.date() - dt.timedelta(days=1)), "1d", eager=True).alias("day")
    return pl.DataFrame({"day": days}).join(frame.with_columns(pl.col("total").cast(pl.Float64)), on="day",
                                            how="left").with_columns(pl.col("total").fill_null(0.0))


def _rolling_rate(grid: pl.DataFrame, num: str, den: str, name: str) -> pl.DataFrame:
    """Per (day, value): sum(num) / sum(den) over the SHARE_DAYS days before the day."""
    daily = grid.with_columns(pl.col("ts").dt.date().alias("day")).group_by("day", "value").agg(
        pl.col(num).sum().alias("_a"), pl.col(den).sum().alias("_b")).sort("day")
    daily = daily.with_columns(
        pl.col("_a").shift(1).rolling_sum(ex.SHARE_DAYS, min_samples=1).over("value").alias("_sa"),
        pl.col("_b").shift(1).rolling_sum(ex.SHARE_DAYS, min_samples=1).over("value").alias("_sb"))
    return daily.select("day", "value", pl.when(pl.col("_sb") > 0).then(pl.col("_sa") / pl.col("_sb"))
                        .otherwise(None).alias(name))


# History enough for the per-unit rates (rate, m1, m2, f_rate) of [since, until): their SHARE_DAYS days before, and one
# day more, so a session that began the evening before the first of those days is not counted in it.
RATE_HISTORY_DAYS = ex.SHARE_DAYS + 1


class Frames:
    """The prepared series of one merchant and grain over [start, until) (history included), read lazily.

    ``history_days``: days read before ``since``. The default makes every column exact; ``RATE_HISTORY_DAYS``
    (a third of the sessions to read) keeps exact only the figures (n, k, amount) and the per-unit rates
    (rate, m1, m2) of [since, until), which is all a rate or mean metric's band and breakdown use; the expected
    counts (e_n, c_n, u) are then not to be used."""

    def __init__(self, access: DataAccess, merchant_id: int, since: dt.datetime, until: dt.datetime, grain: str,
                 history_days: int = ex.HISTORY_DAYS):
        self.access, self.merchant_id, self.grain = access, int(merchant_id), grain
        self.since, self.until = since, until
        self.start = dt.datetime.combine(since.date() - dt.timedelta(days=history_days), dt.time())
        first = self.start.date() - dt.timedelta(days=ex.FACTOR_DAYS + ex.HISTORY_DAYS)
        self.kinds = ex.special_days(merchant_country(access, merchant_id), first, until.date(),
                                     promotions(access, merchant_id, first, until.date()))
        self.factors = ex.day_factor_table(daily_orders(access, merchant_id, first, until), self.kinds)
        self._cache: dict[tuple[str, str], pl.DataFrame] = {}
        # Periods whose sessions may not have ended when the data stops (the last hour before the last event).
        self.open_sessions_from = min(until, last_event(access, merchant_id, until) - series.SESSION_MARGIN / 2)

    def get(self, source: str, dimension: str) -> pl.DataFrame:
        key = (source, dimension)
        if key not in self._cache:
            self._cache[key] = self._prepare(source, dimension)
        return self._cache[key]

    def _prepare(self, source: str, dimension: str) -> pl.DataFrame:
        raw = series.load_series(self.access, self.merchant_id, source, dimension, self.start, self.until, self.grain)
        grid = ex.complete_grid(raw, self.start, self.until, self.grain,
                                values=[series.TOTAL] if dimension == "total" else None)
        if dimension == "total":
            total = grid
        else:
            total = grid.group_by("ts").agg(pl.col("n").sum()).sort("ts")
        e_total = ex.expected_total(total.select("ts", "n"), self.grain, self.kinds, factors=self.factors).rename(
            {"expected": "e_total", "uncertainty": "u"})
        if dimension == "total":
            grid = grid.join(e_total, on="ts", how="left").with_columns(
                pl.col("e_total").alias("e_n"), pl.col("e_total").alias("c_n"))
        else:
            shares = ex.value_shares(grid, self.grain)
            grid = (grid.join(shares, on=["ts", "value"], how="left")
                    .join(e_total, on="ts", how="left")
                    .join(total.select("ts", pl.col("n").alias("n_total")), on="ts", how="left")
                    .with_columns((pl.col("share") * pl.col("e_total")).alias("e_n"),
                                  (pl.col("share") * pl.col("n_total")).alias("c_n")))
        grid = grid.with_columns(pl.col("ts").dt.date().alias("day"))
        for num, den, name in (("k", "n", "rate"), ("amount", "n", "m1"), ("amount_sq", "n", "m2"),
                               ("failed", "n", "f_rate")):
            grid = grid.join(_rolling_rate(grid, num, den, name), on=["day", "value"], how="left")
        return grid.sort("value", "ts")


def metric_parts(metric: str, f: pl.DataFrame, conditional: bool = True):
    """(kind, obs parts, expected parts, volume, shown observed, shown expected) as numpy arrays for one value."""
    m = METRICS[metric]
    col = lambda c: f[c].cast(pl.Float64).fill_null(np.nan).to_numpy()  # noqa: E731
    n, e_n = col("n"), col("e_n")
    base = col("c_n") if conditional else e_n
    if metric == "orders":
        return m.kind, {"y": n}, {"y": base}, e_n, n, e_n
    if metric == "revenue":
        m1, m2 = col("m1"), col("m2")
        return (m.kind, {"y": col("amount")}, {"y": base * m1, "m2": base * m2, "v": base}, e_n,
                col("amount"), e_n * m1)
    if metric in ("conversion", "payment_declines"):
        rate = col("rate")
        return m.kind, {"y": col("k"), "n": n}, {"e": rate * n}, e_n, col("k"), rate * n
    if metric == "payment_failures":  # rare: an exact binomial tail, the recent rate floored (see scoring)
        rate = np.maximum(np.nan_to_num(col("f_rate"), nan=0.0), scoring.RARE_RATE_FLOOR)
        return "rare", {"y": col("failed"), "n": n}, {"e": rate * n}, e_n, col("failed"), rate * n
    if metric == "delivery_delay":
        m1, m2 = col("m1"), col("m2")
        s2 = np.maximum(m2 - m1 ** 2, 0.25)
        return m.kind, {"y": col("amount"), "n": n}, {"e": m1 * n, "s2": s2}, n, col("amount"), m1 * n
    raise ValueError(f"unknown metric {metric!r}")


def band(kind: str, expected: np.ndarray, obs_n: np.ndarray, m2: np.ndarray | None, thr: float):
    """Single-period low/high at score ``thr`` (normal approximation of the kind's spread)."""
    z = float(scoring.stats.norm.isf(10.0 ** -thr))
    if kind == "count":
        sd = np.sqrt(np.maximum(expected + scoring.DISPERSION * expected ** 2, 0))
    elif kind == "sum" and m2 is not None:
        sd = np.sqrt(np.maximum(m2, 0))
    else:
        sd = np.sqrt(np.maximum(expected, 0))
    return np.maximum(expected - z * sd, 0), expected + z * sd


def detect_rule(frames: Frames, rule: WatchRule) -> list[Anomaly]:
    """Anomalies of one rule's series flagged in [since, until)."""
    m = METRICS[rule.metric]
    if frames.grain not in m.grains:
        return []
    f_all = frames.get(series.SOURCE_OF[rule.metric], rule.dimension)
    windows = scoring.HOUR_WINDOWS if frames.grain == "hour" else scoring.DAY_WINDOWS
    min_volume = scoring.MIN_VOLUME[rule.metric] if rule.min_volume is None else float(rule.min_volume)
    thr = scoring.threshold(rule.sensitivity)
    out: list[Anomaly] = []
    for (value,), f in f_all.group_by(["value"], maintain_order=True):
        kind, obs, exp, volume, shown_o, shown_e = metric_parts(rule.metric, f)
        ts = f["ts"].to_numpy()
        hours = f["ts"].dt.hour().to_numpy()
        quiet = np.isin(hours, list(rule.quiet_hours)) if frames.grain == "hour" else np.zeros(len(ts), bool)
        if rule.metric == "conversion":  # sessions of the last period may still be open: their purchases are to come
            quiet = quiet | (f["ts"] >= frames.open_sessions_from).to_numpy()
        # A value's expected count follows the observed total, so a special day's guess matters only for totals.
        unc = f["u"].to_numpy() if rule.dimension == "total" and "u" in f.columns else None
        scored = scoring.score_series(kind, obs, exp, volume, direction=rule.direction, min_volume=min_volume,
                                      quiet=quiet, windows=windows, uncertainty=unc)
        in_range = (f["ts"] >= frames.since).to_numpy() & (f["ts"] < frames.until).to_numpy()
        hits = np.flatnonzero(in_range & (scored.score >= thr))
        if not len(hits):
            continue
        for i in hits:
            w = int(scored.window[i])
            o = float(np.nansum(shown_o[i - w + 1:i + 1]))
            e = float(np.nansum(shown_e[i - w + 1:i + 1]))
            lo, hi = band(kind, np.array([e]), None, None, thr)
            out.append(Anomaly(
                merchant_id=frames.merchant_id, metric=rule.metric, dimension=rule.dimension,
                dimension_value=None if rule.dimension == "total" else str(value), ts=f["ts"][int(i)],
                window=w, observed=o, expected=e, low=float(lo[0]), high=float(hi[0]),
                score=float(scored.score[i]), probability=float(scored.probability[i]),
                direction="drop" if scored.direction[i] < 0 else "spike", grain=frames.grain))
    return out
