"""KPIs of the period against any shifted copy of it (e.g. the same event last year).

The headline comparison (previous period, 52 weeks earlier) is ``analytics.kpis.compute_kpi_comparison``;
this one takes the shift as an argument, so an event comparison (``analytics.events.Event.shift_days``)
reuses the same measures and KPI definitions.
"""

from __future__ import annotations

import polars as pl

from analytics.filters import Filters
from analytics.kpis import KPIS, load_measures
from data.access import DataAccess


def compute_kpi_shift_comparison(access: DataAccess, f: Filters, shift: int) -> pl.DataFrame:
    """Each KPI for the period and for the period moved ``shift`` days (negative = earlier).

    Columns: key (str), value, comparison (Float64, the KPI's unit), delta (value - comparison; percentage
    points for ratios, as fractions), change (relative change, null when the comparison is 0 or null).
    One row per KPI, in registry order.
    """
    m = load_measures(access, {"current": f, "comparison": f.comparison(shift)})
    rows = []
    for k in KPIS:
        value, other = k.compute(m["current"]), k.compute(m["comparison"])
        rows.append({
            "key": k.key, "value": value, "comparison": other,
            "delta": None if value is None or other is None else value - other,
            "change": None if value is None or not other else (value - other) / abs(other),
        })
    schema = {"key": pl.Utf8} | {c: pl.Float64 for c in ("value", "comparison", "delta", "change")}
    return pl.DataFrame(rows, schema=schema)
