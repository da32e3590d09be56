"""The KPI registry and the headline figures with their comparisons.

A KPI is computed in two steps: one query returns a handful of exact *measures*
(sums and counts, see ``MEASURES``) for a period, then each KPI's ``compute``
turns the measures into its value in plain Python. One query per page load,
and every engine returns the same measures, so the same values.
Definitions of orders, revenue lines and line cost are in ``analytics.facts``.
The measures come from the daily rollups (``analytics.rollup_reads``, the same values from far fewer
rows); ``rollups=False`` computes them from the base tables, which the tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts, frames, rollup_reads
from analytics.filters import Filters
from data.access import DataAccess

Measures = Mapping[str, float | None]

MEASURES: dict[str, str] = {
    "revenue": "Revenue: sales minus returns (see analytics.facts), money.",
    "sales": "Line amounts of non-cancelled sale orders, returned ones included, money.",
    "units": "Units of the revenue lines (returned units taken out).",
    "costed_revenue": "Revenue of the lines whose cost is known, money.",
    "cogs": "Cost of goods of the revenue lines whose cost is known (quantity x cost), money.",
    "sale_orders": "Sale orders in scope, any status.",
    "orders": "Non-cancelled sale orders in scope.",
    "cancelled_orders": "Cancelled sale orders in scope.",
    "customers": "Distinct known customers with a non-cancelled sale order in scope.",
    "new_customers": "Of those, customers whose first non-cancelled sale order ever falls in the period.",
    "sessions": "Browsing sessions with events in the period (channel filter only).",
    "converted_sessions": "Of those, sessions with a purchase event in the period.",
    # sessions and converted_sessions are None when a filter sessions cannot honour is set.
}


def _div(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return float(num) / float(den)


@dataclass(frozen=True)
class KPI:
    key: str
    label: str
    unit: str  # "money" (merchant currency), "count" or "ratio" (0..1)
    doc: str
    compute: Callable[[Measures], float | None]
    higher_is_better: bool = True


KPIS: tuple[KPI, ...] = (
    KPI("revenue", "Revenue", "money",
        "Net sales: line amounts (after line discounts, before shipping) of merchandise lines of the period's "
        "non-cancelled sale orders, minus returns: sale orders marked returned, and return documents (credit "
        "notes) dated in the period. Adjustment documents, postage and fee lines are not revenue.",
        lambda m: float(m["revenue"] or 0)),
    KPI("orders", "Orders", "count",
        "Non-cancelled sale orders placed in the period (returned ones included: they were sold).",
        lambda m: float(m["orders"] or 0)),
    KPI("average_order_value", "Average order value", "money",
        "Sales of the orders (returns not taken out) / orders: the basket at checkout. Null without orders.",
        lambda m: _div(m["sales"] or 0, m["orders"])),
    KPI("units", "Units sold", "count",
        "Units on the revenue lines: merchandise units of the period's non-cancelled sale orders, minus units "
        "returned (of orders marked returned, and on return documents dated in the period).",
        lambda m: float(m["units"] or 0)),
    KPI("customers", "Customers", "count",
        "Distinct known customers with a non-cancelled sale order in the period (guest checkouts not counted).",
        lambda m: float(m["customers"] or 0)),
    KPI("new_customer_share", "New customers", "ratio",
        "Share of the period's customers whose first non-cancelled sale order ever with the merchant (in any "
        "channel, store or category) falls in the period. Null without customers.",
        lambda m: _div(m["new_customers"], m["customers"])),
    KPI("returning_customer_share", "Returning customers", "ratio",
        "Share of the period's customers who had bought before the period: 1 - new customer share.",
        lambda m: _div((m["customers"] or 0) - (m["new_customers"] or 0), m["customers"])),
    KPI("conversion_rate", "Conversion rate", "ratio",
        "Browsing sessions with a purchase / sessions, from interactions in the period (channel filter "
        "applies). Null when there are no sessions (merchants without interaction data) and when a region, "
        "store, category or payment filter is set, since sessions carry none of those.",
        lambda m: _div(m["converted_sessions"], m["sessions"])),
    KPI("cancellation_rate", "Cancellation rate", "ratio",
        "Cancelled sale orders / all sale orders placed in the period. Null without sale orders.",
        lambda m: _div(m["cancelled_orders"], m["sale_orders"]), higher_is_better=False),
    KPI("return_rate", "Return rate", "ratio",
        "Returns / sales by value: sale orders of the period marked returned plus return documents dated "
        "in the period, over the period's sales (so imported credit notes count). Null without sales.",
        lambda m: _div((m["sales"] or 0) - (m["revenue"] or 0), m["sales"]), higher_is_better=False),
    KPI("gross_margin", "Gross margin", "ratio",
        "(revenue - cost of goods) / revenue over the revenue lines whose unit cost is known (cost at sale, "
        "else catalogue cost). Null when no line has a known cost.",
        lambda m: _div((m["costed_revenue"] or 0) - (m["cogs"] or 0), m["costed_revenue"])
        if m["cogs"] is not None else None),
)

KPIS_BY_KEY = {k.key: k for k in KPIS}


def measure_table(access: DataAccess, f: Filters, *, rollups: bool = True) -> ir.Table:
    """One row holding every measure of ``MEASURES`` for the filters' period (an ibis expression)."""
    if rollups:
        return rollup_reads.measure_table(access, f)
    r = facts.revenue_lines(access, f)
    lines = r.aggregate(
        revenue=r.line_amount.sum(where=r.in_revenue),
        sales=r.line_amount.sum(where=r.is_sale),
        units=r.quantity.sum(where=r.in_revenue),
        costed_revenue=r.line_amount.sum(where=r.in_revenue & r.cost.notnull()),
        cogs=r.line_cost.sum(where=r.in_revenue),
    )
    s = facts.sale_orders(access, f)
    placed = s.status != facts.CANCELLED
    orders = s.aggregate(
        sale_orders=s.count(),
        orders=s.count(where=placed),
        cancelled_orders=s.count(where=~placed),
        customers=s.customer_id.nunique(where=placed),
    )
    buyers = facts.placed_orders(access, f).select("customer_id").distinct()
    first = facts.first_orders(access)
    b = buyers.join(first, "customer_id")
    new = b.aggregate(new_customers=b.count(where=facts.in_period(b.first_ts, f.start, f.end)))
    sess = facts.sessions(access, f)
    funnel = sess.aggregate(sessions=sess.count(), converted_sessions=sess.count(where=sess.converted))
    return lines.cross_join(orders).cross_join(new).cross_join(funnel)


def _funnel_filterable(f: Filters) -> bool:
    """Sessions carry a channel but no region, store, category or payment method."""
    return not (f.regions or f.store_ids or f.categories or f.payment_methods)


def load_measures(access: DataAccess, periods: Mapping[str, Filters], *,
                  rollups: bool = True) -> dict[str, dict[str, float | None]]:
    """Measures of several periods in one query (one per period with dimension filters): {label: {measure:
    value}} (money as float)."""
    labels = list(periods)
    if rollups:
        # Periods sharing their other filters (a page's period and its comparisons) are one query; measures some
        # filters leave to the order tables come from one labelled scan of the orders inside it. (A union of one
        # measure_table per period made DuckDB materialise the scoped orders the periods share: 0.7-1.4 s at 10M.)
        groups: dict[Filters, dict[str, Filters]] = {}
        for label in labels:
            groups.setdefault(rollup_reads.same_but_period(periods[label]), {})[label] = periods[label]
        parts = [rollup_reads.measure_tables(access, group) for group in groups.values()]
        got = [frames.normalise(access.to_polars(part)) for part in parts]
        frame = pl.concat([g.select(got[0].columns) for g in got], how="vertical_relaxed")
    else:
        parts = [measure_table(access, periods[label], rollups=False).mutate(period=ibis.literal(label))
                 for label in labels]
        expr = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
        frame = frames.normalise(access.to_polars(expr))
    out = {}
    for row in frame.iter_rows(named=True):
        label = row.pop("period")
        if not _funnel_filterable(periods[label]):
            row["sessions"] = row["converted_sessions"] = None
        out[label] = row
    missing = set(labels) - set(out)
    if missing:  # cannot happen (aggregates without keys give one row) unless the engine misbehaves
        raise RuntimeError(f"no measures came back for {sorted(missing)}")
    return out


def compute_kpis(access: DataAccess, f: Filters) -> pl.DataFrame:
    """One row per KPI of ``KPIS``, in registry order.

    Columns: key (str), value (Float64; unit per ``KPIS_BY_KEY[key].unit``; null when undefined).
    """
    m = load_measures(access, {"current": f})["current"]
    return pl.DataFrame(
        {"key": [k.key for k in KPIS], "value": [k.compute(m) for k in KPIS]},
        schema={"key": pl.Utf8, "value": pl.Float64},
    )


def compute_kpi_comparison(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Each KPI for the period, the previous period of equal length and the same period last year.

    Columns: key (str), value, previous, last_year (Float64, the KPI's unit), delta_previous and
    delta_last_year (value - comparison, the KPI's unit; percentage points for ratios as fractions),
    change_previous and change_last_year (relative change (value - comparison) / |comparison|, null when
    the comparison is 0 or null). One row per KPI, in registry order.
    """
    m = load_measures(access, {"current": f, "previous": f.previous_period(), "last_year": f.last_year()})
    rows = []
    for k in KPIS:
        value, prev, ly = (k.compute(m[p]) for p in ("current", "previous", "last_year"))
        rows.append({
            "key": k.key, "value": value, "previous": prev, "last_year": ly,
            "delta_previous": None if value is None or prev is None else value - prev,
            "delta_last_year": None if value is None or ly is None else value - ly,
            "change_previous": None if value is None or not prev else (value - prev) / abs(prev),
            "change_last_year": None if value is None or not ly else (value - ly) / abs(ly),
        })
    schema = {"key": pl.Utf8} | {c: pl.Float64 for c in (
        "value", "previous", "last_year", "delta_previous", "delta_last_year", "change_previous",
        "change_last_year")}
    return pl.DataFrame(rows, schema=schema)
