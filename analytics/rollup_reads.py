"""KPI measures and daily series answered from the daily rollups (data/rollups.py), same values as the base tables.

The rollups keep every order attribute the shared filters use (store, shipping region, channel, payment
method, product category), so the line sums answer every filter. Counts that do not add up get a path
of their own, and the base tables (``analytics.facts``) answer where no rollup is exact:

- orders: ``rollup_orders_daily``; with one category selected, the category's order counts in
  ``rollup_sales_daily``; with several, ``rollup_order_categories``: each order once, in the row of the set
  of categories it holds lines of (a bit mask; an order matches when its mask shares a bit with the
  selection's). A merchant numbers 63 categories in masks; a selection naming a later one (for any merchant
  in scope) reads the base tables instead, exact but slower;
- distinct and new customers: ``rollup_customer_days`` without dimension filters (see data/rollups.py
  for why that is exact); with one dimension filtered (any number of its values), ``rollup_customer_dims``;
  with several (categories and another filter, say), the base orders, and each customer's first order
  from ``rollup_customer_firsts`` instead of a pass over the whole history;
- what comes from the base tables is read once for a page's period and its comparisons (``measure_tables``,
  ``by_days``), with the order lines read only within the order-id ranges of those periods' orders
  (``sale_orders_on``);
- sessions: ``rollup_sessions_daily`` plus the few sessions of ``rollup_session_days`` counted distinct.

Every function returns an ibis expression with the columns and units of its base-table twin, so
``analytics.kpis`` and ``analytics.trends`` can take either. tests/test_rollups.py compares the two for
every filter option of the fixture warehouse, also after an import and a staged-import apply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts
from analytics.filters import Filters
from data.access import DataAccess

ORDER_COUNTS = ("sale_orders", "orders", "cancelled_orders")


def _dated(t: ir.Table, start: dt.date, end: dt.date) -> ir.BooleanColumn:
    return t.day.between(ibis.literal(start, type="date"), ibis.literal(end, type="date"))


def _cell(access: DataAccess, t: ir.Table, f: Filters, *, dated: bool = True) -> list[ir.BooleanColumn]:
    """The order-attribute filters on a rollup that carries the order columns (same names as ``orders``)."""
    conds = [_dated(t, f.start, f.end)] if dated else []
    return conds + facts.order_attribute_conditions(access, t, f)  # the same rules as the base tables


def _count(col: ir.IntegerColumn) -> ir.IntegerScalar:
    return col.sum().cast("int64").coalesce(0)


def has_dimensions(f: Filters) -> bool:
    """Any filter besides the period is set."""
    return bool(f.regions or f.store_ids or f.categories or f.channels or f.payment_methods)


# Filters field -> rollup_customer_dims.dimension
_DIMENSIONS = {"regions": "region", "store_ids": "store", "channels": "channel", "payment_methods": "payment_method",
               "categories": "category"}


def _dimension_values(f: Filters) -> tuple[str, tuple] | tuple[None, tuple]:
    """The one dimension set and its values; (None, ()) when none or several are set."""
    set_dims = [field for field in _DIMENSIONS if getattr(f, field)]
    if len(set_dims) != 1:
        return None, ()
    return set_dims[0], tuple(getattr(f, set_dims[0]))


def _customer_dims(access: DataAccess, f: Filters, *, dated: bool = True) -> ir.Table | None:
    """``rollup_customer_dims`` rows of the period and the one filter set; None with several filters (a customer
    must then have bought with all of their values at once, which only the orders tell)."""
    field, values = _dimension_values(f)
    if field is None:
        return None
    t = facts.table(access, "rollup_customer_dims")
    values = [str(v) for v in values]  # store ids are kept as text beside the other dimensions' names
    t = t.filter(t.dimension == _DIMENSIONS[field], access.isin(t.value, values))
    return t.filter(_dated(t, f.start, f.end)) if dated else t


Selection = Callable[[ir.Table], ir.BooleanColumn]


def category_selection(access: DataAccess, categories: tuple[str, ...]) -> Selection | None:
    """The condition on ``rollup_order_categories`` selecting orders holding a line of any of ``categories``
    (numbered per merchant: one mask per merchant in scope); None when one of them has no bit for some merchant
    in scope (its 64th category on): then only the base tables answer. One small query of
    ``rollup_category_bits``."""
    b = facts.table(access, "rollup_category_bits")
    got = access.to_polars(b.filter(access.isin(b.category, list(categories))).select("merchant_id", "flag"))
    if got["flag"].null_count():
        return None
    masks: dict[int, int] = {}
    for merchant, flag in got.iter_rows():
        masks[int(merchant)] = masks.get(int(merchant), 0) | int(flag)
    merchants_by_mask: dict[int, list[int]] = {}
    for merchant, mask in sorted(masks.items()):
        merchants_by_mask.setdefault(mask, []).append(merchant)
    if not merchants_by_mask:  # no merchant in scope has any of them
        return lambda t: ibis.literal(False)
    # Merchants sharing a mask (the same categories numbered alike) share one condition.
    return lambda t: ibis.or_(*[t.merchant_id.isin(ms) & ((t.category_mask & ibis.literal(mask, type="int64")) != 0)
                                for mask, ms in merchants_by_mask.items()])


_UNSET: Selection = lambda t: ibis.literal(False)  # noqa: E731  (marker: not computed yet)


def customers_read_base(f: Filters) -> bool:
    """Distinct customers of ``f`` come from the order tables: several dimensions are filtered (say, categories
    and a channel), which no rollup keeps exact."""
    return _dimension_values(f)[0] is None and has_dimensions(f)


def reads_base(access: DataAccess, f: Filters) -> bool:
    """Some measure of ``f`` comes from the order tables: customers under several dimension filters, or orders
    under several categories of which one is past a merchant's 63 numbered ones."""
    return customers_read_base(f) or (len(f.categories) > 1 and category_selection(access, f.categories) is None)


def sales(access: DataAccess, f: Filters) -> ir.Table:
    """``rollup_sales_daily`` rows of the filters (categories included)."""
    t = facts.table(access, "rollup_sales_daily")
    conds = _cell(access, t, f)
    if f.categories:
        conds.append(access.isin(t.category, f.categories))
    return t.filter(*conds)


def order_cells(access: DataAccess, f: Filters, selection: Selection | None = _UNSET, *,
                dated: bool = True) -> ir.Table | None:
    """Rollup rows whose order counts add up to the filters' sale orders; None when none can (several categories,
    one past a merchant's numbered ones). ``selection``: ``category_selection`` of several categories, when the
    caller has it already."""
    if not f.categories:
        t = facts.table(access, "rollup_orders_daily")
        conds = _cell(access, t, f, dated=dated)
        return t.filter(*conds) if conds else t  # undated, no filter: every row (measure_tables labels them)
    if len(f.categories) == 1:
        t = facts.table(access, "rollup_sales_daily")
        return t.filter(*_cell(access, t, f, dated=dated), access.isin(t.category, f.categories))
    if selection is _UNSET:
        selection = category_selection(access, f.categories)
    if selection is None:
        return None
    t = facts.table(access, "rollup_order_categories")
    return t.filter(*_cell(access, t, f, dated=dated), selection(t))


def line_measures(access: DataAccess, f: Filters) -> ir.Table:
    """One row: revenue, sales, units, costed_revenue, cogs (as ``kpis.MEASURES``)."""
    s = sales(access, f)
    return s.aggregate(revenue=s.revenue.sum(), sales=s.sales.sum(), units=s.units.sum(),
                       costed_revenue=s.costed_revenue.sum(), cogs=s.cogs.sum())


def order_measures(access: DataAccess, f: Filters) -> ir.Table:
    """One row: sale_orders, orders, cancelled_orders (int64)."""
    cells = order_cells(access, f)
    if cells is not None:
        return cells.aggregate(**{m: _count(cells[m]) for m in ORDER_COUNTS})
    s = sale_orders_on(access, f, [(f.start, f.end)])
    placed = s.status != facts.CANCELLED
    return s.aggregate(sale_orders=s.count(), orders=s.count(where=placed), cancelled_orders=s.count(where=~placed))


def customer_measures(access: DataAccess, f: Filters) -> ir.Table:
    """One row: customers and new_customers (int64), as ``kpis.MEASURES`` defines them."""
    if not has_dimensions(f):
        d = facts.table(access, "rollup_customer_days")
        d = d.filter(_dated(d, f.start, f.end))
        first_in_period = d.previous_day.isnull() | (d.previous_day < ibis.literal(f.start, type="date"))
        return d.aggregate(customers=_count(ibis.ifelse(first_in_period, d.customers, 0)),
                           new_customers=_count(ibis.ifelse(d.previous_day.isnull(), d.customers, 0)))
    dims = _customer_dims(access, f)
    if dims is not None:
        start = ibis.literal(f.start, type="date")  # first_day <= day <= end already: new = first_day >= start
        if len(set(_dimension_values(f)[1])) == 1:
            # One value: a customer's first row in the period is the one whose previous day with it precedes it.
            first = dims.filter(dims.previous_day.isnull() | (dims.previous_day < start))
            return first.aggregate(customers=first.count(), new_customers=first.count(where=first.first_day >= start))
        return dims.aggregate(customers=dims.customer_id.nunique(),
                              new_customers=dims.customer_id.nunique(where=dims.first_day >= start))
    o = sale_orders_on(access, f, [(f.start, f.end)])
    buyers = o.filter(o.status != facts.CANCELLED).select("customer_id").distinct()
    buyers = buyers.filter(buyers.customer_id.notnull())
    firsts = facts.table(access, "rollup_customer_firsts").select("customer_id", "first_ts")
    b = buyers.join(firsts, "customer_id")
    return b.aggregate(customers=b.count(), new_customers=b.count(where=facts.in_period(b.first_ts, f.start, f.end)))


def session_measures(access: DataAccess, f: Filters) -> ir.Table:
    """One row: sessions and converted_sessions (int64) of the period, channel filter applied."""
    simple = facts.table(access, "rollup_sessions_daily")
    spans = facts.table(access, "rollup_session_days")
    conds_simple, conds_spans = [_dated(simple, f.start, f.end)], [_dated(spans, f.start, f.end)]
    if f.channels:
        conds_simple.append(access.isin(simple.channel, f.channels))
        conds_spans.append(access.isin(spans.channel, f.channels))
    simple = simple.filter(*conds_simple)
    spans = spans.filter(*conds_spans)
    per_session = spans.group_by("session_id").aggregate(converted=spans.purchased.any())
    a = simple.aggregate(s1=_count(simple.sessions), c1=_count(simple.converted_sessions))
    b = per_session.aggregate(s2=per_session.count(), c2=per_session.count(where=per_session.converted))
    j = a.cross_join(b)
    return j.select(sessions=(j.s1 + j.s2).cast("int64"), converted_sessions=(j.c1 + j.c2).cast("int64"))


def measure_table(access: DataAccess, f: Filters) -> ir.Table:
    """One row holding every measure of ``kpis.MEASURES`` (the rollup twin of ``kpis.measure_table``)."""
    return (line_measures(access, f).cross_join(order_measures(access, f))
            .cross_join(customer_measures(access, f)).cross_join(session_measures(access, f)))


def by_day(access: DataAccess, f: Filters, selection: Selection | None = _UNSET) -> ir.Table:
    """Revenue (money) and orders (count) per day with activity: columns day (date), revenue, orders."""
    s = sales(access, f)
    # "date" (nullable) like the base series' order_ts.date(), so the parts union whichever path each takes
    lines = s.group_by(day=s.day.cast("date")).aggregate(revenue=s.revenue.sum())
    cells = order_cells(access, f, selection)
    if cells is not None:
        orders = cells.group_by(day=cells.day.cast("date")).aggregate(orders=cells.orders.sum().cast("int64"))
    else:
        o = sale_orders_on(access, f, [(f.start, f.end)])
        o = o.filter(o.status != facts.CANCELLED)
        orders = o.group_by(day=o.order_ts.date()).aggregate(orders=o.count())
    return facts.stack([lines, orders], ["day"])


def by_days(access: DataAccess, periods: dict[str, Filters]) -> ir.Table:
    """``by_day`` of several periods sharing their other filters (``same_but_period``), in one query: columns
    period (its label), day, revenue, orders.

    Under several categories the orders come from one labelled scan for all the periods (``sale_orders_on``):
    a union of ``by_day`` parts made DuckDB materialise the scoped order lines they share, all of them.
    """
    f = next(iter(periods.values()))
    if len({same_but_period(x) for x in periods.values()}) != 1:
        raise ValueError("by_days takes periods with the same other filters")
    selection = category_selection(access, f.categories) if len(f.categories) > 1 else None
    if order_cells(access, f, selection) is not None:
        return ibis.union(*[by_day(access, x, selection).mutate(period=ibis.literal(label))
                            for label, x in periods.items()], distinct=False)
    lines = []
    for label, x in periods.items():
        s = sales(access, x)
        lines.append(s.group_by(day=s.day.cast("date")).aggregate(revenue=s.revenue.sum())
                     .mutate(period=ibis.literal(label)))
    p = ibis.memtable(pl.DataFrame({"period": list(periods), "p_start": [x.start for x in periods.values()],
                                    "p_end": [x.end for x in periods.values()]},
                                   schema={"period": pl.Utf8, "p_start": pl.Date, "p_end": pl.Date}))
    o = _base_orders_labelled(access, f, periods, p)
    o = o.filter(o.status != facts.CANCELLED)
    orders = o.group_by(["period", "day"]).aggregate(orders=o.count())
    return facts.stack([ibis.union(*lines, distinct=False), orders], ["period", "day"])


def same_but_period(f: Filters) -> Filters:
    """``f`` with a fixed period: periods with equal keys share every other filter (``measure_tables``)."""
    return Filters(dt.date.min, dt.date.min, f.regions, f.store_ids, f.categories, f.channels, f.payment_methods)


def _id_ranges(access: DataAccess, o: ir.Table, spans: list[tuple[dt.date, dt.date]]) -> list[tuple[int, int]]:
    """The order-id ranges (lowest, highest id per merchant and span) that hold the orders ``o`` on ``spans``,
    overlapping ones merged. A small query of its own: its numbers bound the line scan that follows."""
    parts = [o.filter(facts.in_period(o.order_ts, a, b)).group_by("merchant_id")
             .aggregate(lo=o.order_id.min(), hi=o.order_id.max()) for a, b in spans]
    got = access.to_polars(parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False))
    merged: list[list[int]] = []
    for lo, hi in sorted(zip(got["lo"].to_list(), got["hi"].to_list())):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(int(lo), int(hi)) for lo, hi in merged]


def sale_orders_on(access: DataAccess, f: Filters, spans: list[tuple[dt.date, dt.date]]) -> ir.Table:
    """``facts.sale_orders`` of ``f``'s other filters on any of ``spans`` (from, to), the same rows, faster.

    With categories selected, an order counts if it holds a line of one; ``facts`` finds those among all the
    lines ever sold. Here the lines are read only within the order-id ranges of the orders on ``spans``, so
    DuckDB skips the other row groups by order_id where ids grow with time, as generated ids do per merchant
    (raw DuckDB at 10M orders, 4 merchants, 90 days: 0.19-0.23 s against 0.58-0.64 s, load average 9). The
    ranges hold every order on the spans whatever the ids, so the answer is the same in any case.
    """
    o = facts.table(access, "orders")
    o = o.filter(o.order_type == facts.SALE, *facts.order_attribute_conditions(access, o, f))
    o = o.filter(ibis.or_(*[facts.in_period(o.order_ts, a, b) for a, b in spans]))  # zone maps on order_ts
    if not f.categories:
        return o
    products = facts.table(access, "products")
    wanted = products.filter(access.isin(products.category, f.categories)).product_id
    ranges = _id_ranges(access, o, spans)
    if not ranges:
        return o.filter(ibis.literal(False))
    lines = facts.table(access, "order_lines")
    # One scan under an OR of the ranges: DuckDB prunes row groups by it. (A union of one scan per range made
    # DuckDB materialise the scoped lines they share, all of them, as a CTE.)
    lines = lines.filter(ibis.or_(*[lines.order_id.between(lo, hi) for lo, hi in ranges]),
                         lines.product_id.isin(wanted))
    return o.filter(o.order_id.isin(lines.order_id))


def _base_orders_labelled(access: DataAccess, f: Filters, periods: dict[str, Filters], p: ir.Table) -> ir.Table:
    """The sale orders of ``f``'s other filters (categories: holding a line of one) on any of the ``periods``,
    each joined to the labels of the periods holding its day: one scan of the orders for all periods."""
    o = sale_orders_on(access, f, [(x.start, x.end) for x in periods.values()])
    o = o.mutate(day=o.order_ts.date())
    return o.join(p, (o.day >= p.p_start) & (o.day <= p.p_end))


def _base_customers(access: DataAccess, o: ir.Table) -> ir.Table:
    """customers and new_customers per period from labelled orders (``_base_orders_labelled``), as
    ``customer_measures`` counts them from the orders: distinct buyers, new if their first order ever is in it."""
    b = o.filter(o.status != facts.CANCELLED, o.customer_id.notnull())
    b = b.select("period", "p_start", "p_end", "customer_id").distinct()
    firsts = facts.table(access, "rollup_customer_firsts").select("customer_id", "first_ts")
    b = b.join(firsts, "customer_id")
    first_day = b.first_ts.date()
    return b.group_by("period").aggregate(customers=b.count(),
                                          new_customers=b.count(where=(first_day >= b.p_start) & (first_day <= b.p_end)))


def measure_tables(access: DataAccess, periods: dict[str, Filters]) -> ir.Table:
    """``measure_table`` of several periods sharing their other filters (``same_but_period``) in one query: one
    row per period, column ``period`` its label.

    One scan per rollup labels each row with the periods holding its day. A union of ``measure_table`` per period
    costs more at 10M orders: each part compiles separately (~40 ms each) and DuckDB materialises the scoped
    tables the parts share. Measures no rollup answers exactly (``reads_base``: customers under several filter
    dimensions, order counts under several categories past a merchant's numbered ones) come from one labelled
    scan of the orders for all the periods, not one query per period.
    """
    f = next(iter(periods.values()))
    if len({same_but_period(p) for p in periods.values()}) != 1:
        raise ValueError("measure_tables takes periods with the same other filters")
    p = ibis.memtable(pl.DataFrame({"period": list(periods), "p_start": [x.start for x in periods.values()],
                                    "p_end": [x.end for x in periods.values()]},
                                   schema={"period": pl.Utf8, "p_start": pl.Date, "p_end": pl.Date}))

    def labelled(t: ir.Table, *conds: ir.BooleanColumn) -> ir.Table:
        # the OR of the periods lets DuckDB skip row groups by day; the join then names each row's periods
        t = t.filter(ibis.or_(*[_dated(t, x.start, x.end) for x in periods.values()]), *conds)
        return t.join(p, (t.day >= p.p_start) & (t.day <= p.p_end))

    s = facts.table(access, "rollup_sales_daily")
    s = labelled(s, *_cell(access, s, f, dated=False), *([access.isin(s.category, f.categories)] if f.categories else []))
    lines = s.group_by("period").aggregate(revenue=s.revenue.sum(), sales=s.sales.sum(), units=s.units.sum(),
                                           costed_revenue=s.costed_revenue.sum(), cogs=s.cogs.sum())
    selection = category_selection(access, f.categories) if len(f.categories) > 1 else None
    cells = order_cells(access, f, selection, dated=False)
    base = _base_orders_labelled(access, f, periods, p) if cells is None or customers_read_base(f) else None
    if cells is None:  # several categories, one past a merchant's numbered ones: each order once, from the orders
        placed = base.status != facts.CANCELLED
        orders = base.group_by("period").aggregate(sale_orders=base.count(), orders=base.count(where=placed),
                                                   cancelled_orders=base.count(where=~placed))
    else:
        o = s if len(f.categories) == 1 else labelled(cells)  # one category: the lines' rollup, already labelled
        orders = o.group_by("period").aggregate(**{m: _count(o[m]) for m in ORDER_COUNTS})
    d = _customer_dims(access, f, dated=False)
    if d is None and has_dimensions(f):  # several dimensions: the buyers of the orders
        custs = _base_customers(access, base)
    elif d is None:  # no dimension at all: rollup_customer_days
        d = labelled(facts.table(access, "rollup_customer_days"))
        first = d.previous_day.isnull() | (d.previous_day < d.p_start)
        custs = d.group_by("period").aggregate(customers=_count(ibis.ifelse(first, d.customers, 0)),
                                               new_customers=_count(ibis.ifelse(d.previous_day.isnull(),
                                                                                d.customers, 0)))
    elif len(set(_dimension_values(f)[1])) == 1:
        d = labelled(d)
        d = d.filter(d.previous_day.isnull() | (d.previous_day < d.p_start))
        custs = d.group_by("period").aggregate(customers=d.count(), new_customers=d.count(where=d.first_day >= d.p_start))
    else:
        d = labelled(d)
        custs = d.group_by("period").aggregate(customers=d.customer_id.nunique(),
                                               new_customers=d.customer_id.nunique(where=d.first_day >= d.p_start))
    simple, spans = facts.table(access, "rollup_sessions_daily"), facts.table(access, "rollup_session_days")
    on_channel = (lambda t: [access.isin(t.channel, f.channels)]) if f.channels else (lambda t: [])
    simple, spans = labelled(simple, *on_channel(simple)), labelled(spans, *on_channel(spans))
    s1 = simple.group_by("period").aggregate(s1=simple.sessions.sum(), c1=simple.converted_sessions.sum())
    per_session = spans.group_by(["period", "session_id"]).aggregate(converted=spans.purchased.any())
    s2 = per_session.group_by("period").aggregate(s2=per_session.count(), c2=per_session.count(where=per_session.converted))
    out = p.select("period")
    for part in (lines, orders, custs, s1, s2):
        out = out.left_join(part, "period")
        out = out.drop("period_right") if "period_right" in out.columns else out
    zero = lambda c: c.cast("int64").coalesce(0)  # noqa: E731  (no row of a period: nothing counted)
    return out.select("revenue", "sales", "units", "costed_revenue", "cogs",
                      *[zero(out[m]).name(m) for m in (*ORDER_COUNTS, "customers", "new_customers")],
                      sessions=zero(out.s1) + zero(out.s2), converted_sessions=zero(out.c1) + zero(out.c2),
                      period=out.period)
