"""Expected values of the watched series, from their own recent past only.

For a merchant's total count series (orders, sessions, payment attempts) at period t of day d:

    expected(t) = weekday_level(d) x recent_ratio(d) x day_factor(d) x hour_share(t)

- ``weekday_level``: the mean of the last ``WEEKS`` same weekdays (holidays left out): weekly seasonality;
- ``recent_ratio``: the median, over the last ``RECENT_DAYS`` ordinary days, of actual / weekday level: the
  level now (trend, season), robust to a few odd days (a promotion, an incident);
- ``day_factor``: on special days (public holidays from the ``holidays`` package for the merchant's country, as
  the forecasting code uses; promotions from ``promotions``; paydays), the median past effect of the same
  holiday or promotion, else of the same kind; special days are left out of the levels and shares;
- ``hour_share``: the share of a day's count that falls in that hour, over the last ``WEEKS`` weeks, separately
  for working days and weekends (hours only).

Everything for day d is computed from days before d, so a flag never depends on later data (stable incident
keys). A dimension value's expected count is its recent share of the total (per hour of day, shrunk to its
overall share) times the total's expected count; ``conditional`` is the same share times the *observed* total,
which the scorer uses so that a site-wide drop is not also every region's drop.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

WEEKS = 8
RECENT_DAYS = 14
SHARE_DAYS = 28
SHARE_PRIOR = 20.0  # pseudo-count pulling a value's hourly share to its overall share
# Every statistic looks back a bounded number of days (levels: 8 weeks + 14 days of ratios; shares: 8 weeks), so
# with this much history read, the expected value of a period does not depend on where the history started:
# a later check finds the same flags, hence the same incident keys.
HISTORY_DAYS = WEEKS * 7 + RECENT_DAYS + 7
FACTOR_DAYS = 400  # special days whose effect is learnt (the same holiday last year); read as daily orders


def special_days(country: str | None, first: dt.date, last: dt.date,
                 promotions: list[tuple[int, dt.date, dt.date, bool]] = ()) -> dict[dt.date, str]:
    """Days whose level differs for a known reason in [first, last], as ``kind:label``: public holidays of
    ``country`` (``holiday:<name>``), promotions (``promo_all:<id>`` for whole-catalogue ones in every channel,
    else ``promo_part:<id>``) and paydays (``payday:``, last two and first day of a month). One label a day:
    holiday over promotion over payday. ``promotions``: (id, start, end, whole catalogue and channels)."""
    out: dict[dt.date, str] = {}
    d = first
    while d <= last:
        nxt = d + dt.timedelta(days=1)
        if d.day == 1 or nxt.day == 1 or (nxt + dt.timedelta(days=1)).day == 1:
            out[d] = "payday:"
        d = nxt
    for pid, start, end, whole in sorted(promotions, key=lambda p: (not p[3], p[1])):
        d = max(start, first)
        while d <= min(end, last):
            if not out.get(d, "").startswith("promo_all"):
                out[d] = f"{'promo_all' if whole else 'promo_part'}:{pid}"
            d += dt.timedelta(days=1)
    if country:
        try:
            import holidays

            for day, name in holidays.country_holidays(country, years=range(first.year, last.year + 1)).items():
                if first <= day <= last:
                    out[day] = f"holiday:{name}"
        except (NotImplementedError, KeyError):  # a country `holidays` does not know: no holiday effect
            pass
    return out


def complete_grid(frame: pl.DataFrame, since: dt.datetime, until: dt.datetime, grain: str,
                  values: list[str] | None = None) -> pl.DataFrame:
    """Every period of [since, until) x every value, figures 0 where the series had no row."""
    step = "1h" if grain == "hour" else "1d"
    ts = pl.datetime_range(since, until - (dt.timedelta(hours=1) if grain == "hour" else dt.timedelta(days=1)),
                           step, eager=True, time_unit="us").alias("ts")
    vals = values if values is not None else sorted(frame["value"].unique().to_list()) or ["all"]
    grid = pl.DataFrame({"ts": ts}).join(pl.DataFrame({"value": vals}, schema={"value": pl.Utf8}), how="cross")
    figures = [c for c in frame.columns if c not in ("ts", "value")]
    return grid.join(frame, on=["ts", "value"], how="left").with_columns(
        [pl.col(c).fill_null(0.0) for c in figures]).sort("value", "ts")


def _day_factors(days: pl.DataFrame, kinds: dict[dt.date, str]) -> pl.DataFrame:
    """days (day, total, base) -> day, factor, uncertainty.

    A special day's factor is the median past ratio actual / base of days with the same label (the same holiday
    last year, earlier days of the same promotion), else of the same kind (two seen at least), else 1; the
    uncertainty (extra relative variance for the scorer) says how much that guess is worth."""
    rows = []
    by_label: dict[str, list[tuple[dt.date, float]]] = {}
    by_kind: dict[str, list[tuple[dt.date, float]]] = {}
    for day, total, base in days.select("day", "total", "base").iter_rows():
        label = kinds.get(day, "")
        kind = label.split(":", 1)[0]
        factor, unc = 1.0, 0.0
        if label:
            oldest = day - dt.timedelta(days=FACTOR_DAYS)  # a bounded look-back: the same answer whatever was read
            same = [r for d, r in by_label.get(label, []) if d >= oldest]
            alike = [r for d, r in by_kind.get(kind, []) if d >= oldest]
            if same:
                factor, unc = float(np.median(same)), 0.01
            elif len(alike) >= 2:
                # How far this kind's days stray from their median says how much the guess is worth.
                factor = float(np.median(alike))
                spread = 1.4826 * float(np.median(np.abs(np.asarray(alike) - factor))) / max(factor, 1e-9)
                unc = min(0.15, max(0.005, spread ** 2))
            else:
                unc = 0.15
        rows.append((day, min(max(factor, 0.2), 4.0), unc))
        if label and base and total is not None and base == base and base > 0:
            by_label.setdefault(label, []).append((day, float(total) / float(base)))
            by_kind.setdefault(kind, []).append((day, float(total) / float(base)))
    return pl.DataFrame(rows, schema={"day": pl.Date, "factor": pl.Float64, "uncertainty": pl.Float64},
                        orient="row")


def _levels(days: pl.DataFrame, kinds: dict[dt.date, str]) -> pl.DataFrame:
    """days (day, dow, total) -> + weekday_level, recent_ratio, base (the expected total of an ordinary day)."""
    special = list(kinds)
    ordinary = pl.when(pl.col("day").is_in(special)).then(None).otherwise(pl.col("total"))
    days = days.sort("day").with_columns(
        ordinary.shift(1).rolling_mean(WEEKS, min_samples=2).over("dow").alias("weekday_level"))
    plain = pl.when(pl.col("day").is_in(special)).then(None).otherwise(pl.col("total") / pl.col("weekday_level"))
    days = days.with_columns(plain.alias("r")).with_columns(
        pl.col("r").shift(1).rolling_median(RECENT_DAYS, min_samples=3).fill_null(1.0).clip(0.3, 3.0)
        .alias("recent_ratio"))
    return days.with_columns((pl.col("weekday_level") * pl.col("recent_ratio")).alias("base"))


def day_factor_table(daily: pl.DataFrame, kinds: dict[dt.date, str]) -> pl.DataFrame:
    """daily: (day, total) of a long span (FACTOR_DAYS and more) -> day, factor, uncertainty of special days."""
    days = daily.with_columns(pl.col("day").dt.weekday().alias("dow"))
    return _day_factors(_levels(days, kinds).select("day", "total", "base"), kinds)


def expected_total(total: pl.DataFrame, grain: str, kinds: dict[dt.date, str], column: str = "n",
                   factors: pl.DataFrame | None = None) -> pl.DataFrame:
    """total: a complete grid (ts, ``column``) of one series -> ts, expected (null until enough history),
    uncertainty (extra relative variance of the expected value on special days, 0 on ordinary ones).
    ``factors``: special days' (day, factor, uncertainty) learnt on a longer span (``day_factor_table``);
    None: learnt on this series."""
    f = total.select("ts", pl.col(column).alias("y")).sort("ts").with_columns(
        pl.col("ts").dt.date().alias("day"), pl.col("ts").dt.hour().alias("hour"),
        pl.col("ts").dt.weekday().alias("dow"))
    days = _levels(f.group_by("day", "dow").agg(pl.col("y").sum().alias("total")), kinds)
    if factors is None:
        factors = _day_factors(days.select("day", "total", "base"), kinds)
    days = days.join(factors.select("day", "factor", "uncertainty"), on="day", how="left").with_columns(
        pl.col("factor").fill_null(1.0), pl.col("uncertainty").fill_null(0.0))
    days = days.with_columns((pl.col("base") * pl.col("factor")).alias("day_expected"))
    if grain == "day":
        return f.join(days.select("day", "day_expected", "uncertainty"), on="day").select(
            "ts", pl.col("day_expected").alias("expected"), "uncertainty")
    # Hour shares of a working day and of a weekend day over the last WEEKS weeks of ordinary days (earlier days
    # only). Every day gets all 24 hours (a day cut short by ``until`` too), so shares are of a whole day, and the
    # window counts days, not rows, so it reaches back the same whatever history was read.
    f = f.with_columns((pl.col("dow") >= 6).alias("weekend"))
    ordinary = pl.when(pl.col("day").is_in(list(kinds))).then(None).otherwise(pl.col("y"))
    hours = pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8})
    grid = f.select("day", "weekend").unique().join(hours, how="cross")
    counts = f.group_by("day", "hour").agg(ordinary.sum().alias("y_ord"))
    by_hour = grid.join(counts, on=["day", "hour"], how="left").sort("day").with_columns(
        *[pl.when(pl.col("weekend") == we).then(pl.col("y_ord")).otherwise(0.0).fill_null(0.0)
          .shift(1).rolling_sum(WEEKS * 7, min_samples=1).over("hour").alias(name)
          for we, name in ((False, "s_work"), (True, "s_weekend"))])
    picked = pl.when(pl.col("weekend")).then(pl.col("s_weekend")).otherwise(pl.col("s_work"))
    by_hour = by_hour.with_columns((picked / picked.sum().over("day")).alias("hour_share"))
    return (f.join(by_hour.select("day", "hour", "hour_share"), on=["day", "hour"], how="left")
            .join(days.select("day", "day_expected", "uncertainty"), on="day", how="left")
            .select("ts", (pl.col("day_expected") * pl.col("hour_share")).alias("expected"), "uncertainty")
            .sort("ts"))


def value_shares(grid: pl.DataFrame, grain: str, column: str = "n") -> pl.DataFrame:
    """grid: complete (ts, value, ``column``) of one dimension -> ts, value, share: each value's share of the
    total in the last SHARE_DAYS days before the period's day (per hour of day, shrunk to the overall share)."""
    f = grid.select("ts", "value", pl.col(column).alias("y")).with_columns(pl.col("ts").dt.date().alias("day"))
    f = f.with_columns(pl.col("ts").dt.hour().alias("hour") if grain == "hour" else pl.lit(0).alias("hour"))
    daily = f.group_by("day", "value").agg(pl.col("y").sum()).sort("day").with_columns(
        pl.col("y").shift(1).rolling_sum(SHARE_DAYS, min_samples=1).over("value").alias("v_all"))
    daily = daily.with_columns((pl.col("v_all") / pl.col("v_all").sum().over("day")).alias("overall"))
    hourly = f.group_by("day", "hour", "value").agg(pl.col("y").sum()).sort("day").with_columns(
        pl.col("y").shift(1).rolling_sum(SHARE_DAYS, min_samples=1).over("hour", "value").alias("vh"))
    hourly = hourly.with_columns(pl.col("vh").sum().over("day", "hour").alias("h_all"))
    s = hourly.join(daily.select("day", "value", "overall"), on=["day", "value"], how="left").with_columns(
        ((pl.col("vh") + SHARE_PRIOR * pl.col("overall")) / (pl.col("h_all") + SHARE_PRIOR)).alias("share"))
    return f.join(s.select("day", "hour", "value", "share"), on=["day", "hour", "value"], how="left").select(
        "ts", "value", pl.col("share").fill_null(0.0))
