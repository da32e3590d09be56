"""Customer behaviour: monthly cohort retention and the revenue share of repeat customers.

A customer's *first order* is their first non-cancelled sale order ever with the merchant, whatever
the filters (as for the new-customer KPI). Guest checkouts have no customer and are left out of
cohorts. Other definitions are those of ``analytics.facts``.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from analytics import facts, frames
from analytics.filters import Filters
from data.access import DataAccess

SEGMENTS = ("repeat", "one_time", "guest")


def _month_index(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def compute_cohort_retention(access: DataAccess, f: Filters, max_months: int = 12) -> pl.DataFrame:
    """Share of each monthly cohort buying again 0..``max_months`` months after its first month.

    Cohorts: customers whose first order falls in the period, by the month of that order. Activity:
    non-cancelled sale orders in scope (period and filters). Month 0 is the cohort's own month; with
    dimension filters set it can be below 1 (the first order may lie outside them). Cells later than
    the period's end month are absent. Columns: cohort_month (date, first day), months_since (Int64),
    cohort_size (count of customers), customers (count active that month), retention (fraction:
    customers / cohort_size). Sorted by cohort_month, months_since.
    """
    first = facts.first_orders(access)
    cohort = first.filter(facts.in_period(first.first_ts, f.start, f.end)).select(
        "customer_id", cohort_month=first.first_ts.truncate("M").date())
    o = facts.placed_orders(access, f)
    active = o.filter(o.customer_id.notnull()).select("customer_id", month=o.order_ts.truncate("M").date())
    j = active.distinct().join(cohort, "customer_id")
    months_since = (j.month.year() - j.cohort_month.year()) * 12 + (j.month.month() - j.cohort_month.month())
    cells = j.group_by("cohort_month", months_since=months_since.cast("int64")).aggregate(
        customers=j.customer_id.nunique())
    # Cohort sizes ride along as rows with a null months_since.
    sizes = cohort.group_by("cohort_month").aggregate(cohort_size=cohort.count()).mutate(
        months_since=ibis.null("int64"))
    res = frames.normalise(access.to_polars(facts.stack([cells, sizes], ["cohort_month", "months_since"])),
                           counts=("customers", "cohort_size"))
    sizes_pl = res.filter(pl.col("months_since").is_null()).select("cohort_month", "cohort_size")
    cells_pl = res.filter(pl.col("months_since").is_not_null()).select("cohort_month", "months_since",
                                                                        "customers")
    last = _month_index(f.end)
    grid = [
        {"cohort_month": row["cohort_month"], "months_since": k, "cohort_size": row["cohort_size"]}
        for row in sizes_pl.iter_rows(named=True)
        for k in range(0, min(max_months, last - _month_index(row["cohort_month"])) + 1)
    ]
    schema = {"cohort_month": pl.Date, "months_since": pl.Int64, "cohort_size": pl.Int64}
    out = pl.DataFrame(grid, schema=schema).join(
        cells_pl.with_columns(pl.col("months_since").cast(pl.Int64)), on=["cohort_month", "months_since"],
        how="left")
    out = frames.zero_fill(out, ("customers",)).with_columns(pl.col("customers").cast(pl.Int64))
    out = out.with_columns(frames.ratio("customers", "cohort_size").alias("retention"))
    return frames.sort(out, ["cohort_month", "months_since"])


def compute_repeat_customer_share(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Sales of repeat customers, one-time customers and guests in the period.

    A customer is ``repeat`` with 2 or more non-cancelled sale orders in scope in the period,
    ``one_time`` with one; ``guest`` holds checkouts without a customer. Sales are revenue lines of sale
    orders (returns are not attributed). Columns: segment (str, always the three of ``SEGMENTS``),
    customers (count; null for guests), orders (count), sales (money), sales_share (fraction of all
    sales). Sorted in ``SEGMENTS`` order.
    """
    o = facts.placed_orders(access, f)
    r = facts.revenue_lines(access, f)
    r = r.filter(r.is_sale)
    per = facts.stack([
        o.group_by("customer_id").aggregate(orders=o.count()),
        r.group_by("customer_id").aggregate(sales=r.line_amount.sum()),
    ], ["customer_id"])
    segment = ibis.cases((per.customer_id.isnull(), "guest"), (per.orders >= 2, "repeat"), else_="one_time")
    expr = per.group_by(segment=segment).aggregate(
        customers=per.customer_id.count(), orders=per.orders.sum(), sales=per.sales.sum())
    res = frames.normalise(access.to_polars(expr), counts=("customers", "orders"))
    base = pl.DataFrame({"segment": list(SEGMENTS), "_rank": list(range(len(SEGMENTS)))})
    out = base.join(res, on="segment", how="left")
    out = frames.zero_fill(out, ("customers", "orders", "sales")).with_columns(
        pl.col("customers", "orders").cast(pl.Int64), pl.col("sales").cast(pl.Float64))
    out = out.with_columns(
        pl.when(pl.col("segment") == "guest").then(None).otherwise(pl.col("customers")).alias("customers"),
        frames.share("sales").alias("sales_share"),
    )
    return out.sort("_rank").drop("_rank")
