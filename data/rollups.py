"""Daily rollups of the order, line and session tables, rebuilt inside each load's transaction.

The KPI and trend queries of a whole merchant scope read tens of millions of lines, orders and events
per page; these tables hold the same sums and counts per day (and per order attribute and category),
so a 90-day period reads thousands of rows instead (see analytics/rollup_reads.py, which answers
from them, and data/tables.py ``ROLLUPS`` for every column).

Distinct counts do not add up across days, so they get rollups that keep them exact:
- ``rollup_customer_days``: a customer buying on day d whose previous buying day was p is counted once
  in the row (d, p). The customers of a period [s, e] are the rows with s <= d <= e and p < s or null
  (each customer's first buying day inside the period), new customers the rows with p null.
- ``rollup_customer_dims``: the same per filter dimension and value, one row per customer and day (so
  several values of one dimension count a customer once: count distinct over these few rows), with the
  customer's first buying day ever for new customers under a filter.
- ``rollup_order_categories``: sale orders per cell and *set* of categories (a BIGINT mask over the
  merchant's numbering in ``rollup_category_bits``), so several selected categories count each order once
  (its mask shares a bit with the selection's). 63 categories per merchant fit; see the insert's comment.
- sessions: a session whose events all fall on one day and one channel is counted in
  ``rollup_sessions_daily``; the few others (past midnight, both channels) are listed per day and
  channel in ``rollup_session_days`` and counted distinct at query time.

``refresh(con, merchant_ids)`` deletes and rebuilds the given merchants' rows (all merchants when None).
Loads call it in the same transaction as their inserts, after them, so the rollups commit or roll back
with the data: the generator (data/generator/__init__.py), imports and staged-import applies
(data/importers/load.py), and the schema upgrade that introduced them (data/schema.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from data.tables import ROLLUPS

TABLES: tuple[str, ...] = tuple(t.name for t in ROLLUPS)

# {where} restricts the source rows (every source table is aliased ``o``) to the merchants refreshed; it is a
# constant of this module with the id list bound as a parameter, never user text.
_REVENUE = ("p.is_merchandise AND o.status <> 'cancelled' AND o.order_type IN ('sale', 'return') "
            "AND (o.order_type = 'return' OR o.status <> 'returned')")
_INSERTS: dict[str, str] = {
    # Stage 1 folds lines into one row per order and category; stage 2 sums those per cell, so an order
    # holding several lines of a category counts once for it.
    "rollup_sales_daily": f"""
        WITH oc AS (
            SELECT l.order_id, p.category,
                   sum(l.line_amount) FILTER (WHERE {_REVENUE}) AS revenue,
                   sum(l.line_amount) FILTER (WHERE p.is_merchandise AND o.order_type = 'sale'
                                              AND o.status <> 'cancelled') AS sales,
                   sum(l.quantity) FILTER (WHERE {_REVENUE}) AS units,
                   sum(l.line_amount) FILTER (WHERE {_REVENUE}
                                              AND coalesce(l.unit_cost, p.unit_cost) IS NOT NULL) AS costed_revenue,
                   sum(l.quantity * coalesce(l.unit_cost, p.unit_cost)) FILTER (WHERE {_REVENUE}) AS cogs
            FROM main.order_lines l
            JOIN main.orders o ON l.order_id = o.order_id
            JOIN main.products p ON l.product_id = p.product_id
            WHERE {{where}}
            GROUP BY l.order_id, p.category)
        SELECT o.merchant_id, CAST(o.order_ts AS DATE) AS day, o.store_id, o.shipping_region, o.channel,
               o.payment_method, oc.category,
               sum(oc.revenue), sum(oc.sales), sum(oc.units), sum(oc.costed_revenue), sum(oc.cogs),
               count(*) FILTER (WHERE o.order_type = 'sale'),
               count(*) FILTER (WHERE o.order_type = 'sale' AND o.status <> 'cancelled'),
               count(*) FILTER (WHERE o.order_type = 'sale' AND o.status = 'cancelled')
        FROM oc JOIN main.orders o ON oc.order_id = o.order_id
        GROUP BY ALL ORDER BY 1, 2""",
    "rollup_orders_daily": """
        SELECT o.merchant_id, CAST(o.order_ts AS DATE) AS day, o.store_id, o.shipping_region, o.channel,
               o.payment_method, count(*), count(*) FILTER (WHERE o.status <> 'cancelled'),
               count(*) FILTER (WHERE o.status = 'cancelled')
        FROM main.orders o WHERE o.order_type = 'sale' AND {where}
        GROUP BY ALL ORDER BY 1, 2""",
    # Categories numbered per merchant in name order; a BIGINT mask holds 63 of them (bits 0-62, the sign bit
    # left alone). A merchant's 64th category on gets no flag: masks leave it out, and a filter naming it falls
    # back to the base tables (analytics/rollup_reads.py), exact but slower.
    "rollup_category_bits": """
        WITH c AS (SELECT DISTINCT o.merchant_id, o.category FROM main.products o
                   WHERE o.category IS NOT NULL AND {where}),
        n AS (SELECT merchant_id, category,
                     CAST(row_number() OVER (PARTITION BY merchant_id ORDER BY category) - 1 AS INTEGER) AS bit
              FROM c)
        SELECT merchant_id, category, bit, CASE WHEN bit < 63 THEN CAST(1 AS BIGINT) << bit END FROM n
        ORDER BY 1, 3""",
    # One mask per sale order (OR of its lines' category flags), then orders counted per cell and mask: several
    # selected categories match an order once, whatever lines of them it holds. Reads rollup_category_bits,
    # refreshed just before it (TABLES order).
    "rollup_order_categories": """
        WITH m AS (
            SELECT o.order_id, bit_or(b.flag) AS mask
            FROM main.order_lines o
            JOIN main.products p ON o.product_id = p.product_id
            JOIN main.rollup_category_bits b ON b.merchant_id = p.merchant_id AND b.category = p.category
            WHERE b.flag IS NOT NULL AND {where}
            GROUP BY o.order_id)
        SELECT o.merchant_id, CAST(o.order_ts AS DATE) AS day, o.store_id, o.shipping_region, o.channel,
               o.payment_method, m.mask, count(*), count(*) FILTER (WHERE o.status <> 'cancelled'),
               count(*) FILTER (WHERE o.status = 'cancelled')
        FROM main.orders o JOIN m ON o.order_id = m.order_id
        WHERE o.order_type = 'sale' AND {where}
        GROUP BY ALL ORDER BY 1, 2""",
    "rollup_customer_days": """
        WITH d AS (
            SELECT DISTINCT o.merchant_id, o.customer_id, CAST(o.order_ts AS DATE) AS day FROM main.orders o
            WHERE o.order_type = 'sale' AND o.status <> 'cancelled' AND o.customer_id IS NOT NULL AND {where}),
        g AS (SELECT merchant_id, day, lag(day) OVER (PARTITION BY merchant_id, customer_id ORDER BY day) AS prev
              FROM d)
        SELECT merchant_id, day, prev, count(*) FROM g GROUP BY ALL ORDER BY 1, 2""",
    # One row per customer, day and value of each filter dimension (the dimensions of analytics.facts'
    # filters, region resolved as facts.in_regions does); previous_day is the customer's last buying day
    # with the same value, first_day the first order ever (what "new customer" means under any filter). Sorted
    # by dimension and value so that a selection of one value skips the other row groups (zone maps).
    "rollup_customer_dims": """
        WITH o AS (
            SELECT o.order_id, o.merchant_id, o.customer_id, CAST(o.order_ts AS DATE) AS day,
                   min(CAST(o.order_ts AS DATE)) OVER (PARTITION BY o.merchant_id, o.customer_id) AS first_day,
                   CAST(o.store_id AS VARCHAR) AS store, coalesce(o.shipping_region, s.region) AS region,
                   o.channel, o.payment_method
            FROM main.orders o LEFT JOIN main.stores s ON o.store_id = s.store_id
            WHERE o.order_type = 'sale' AND o.status <> 'cancelled' AND o.customer_id IS NOT NULL AND {where}),
        v AS (
            SELECT merchant_id, customer_id, day, first_day, 'region' AS dimension, region AS value FROM o
            UNION SELECT merchant_id, customer_id, day, first_day, 'store', store FROM o
            UNION SELECT merchant_id, customer_id, day, first_day, 'channel', channel FROM o
            UNION SELECT merchant_id, customer_id, day, first_day, 'payment_method', payment_method FROM o
            UNION SELECT o.merchant_id, o.customer_id, o.day, o.first_day, 'category', p.category
                  FROM o JOIN main.order_lines l ON l.order_id = o.order_id
                  JOIN main.products p ON l.product_id = p.product_id)
        SELECT merchant_id, dimension, value, day, customer_id,
               lag(day) OVER (PARTITION BY merchant_id, dimension, value, customer_id ORDER BY day), first_day
        FROM v WHERE value IS NOT NULL ORDER BY dimension, value, merchant_id, day""",
    "rollup_customer_firsts": """
        SELECT o.merchant_id, o.customer_id, min(o.order_ts) FROM main.orders o
        WHERE o.order_type = 'sale' AND o.status <> 'cancelled' AND o.customer_id IS NOT NULL AND {where}
        GROUP BY ALL ORDER BY 1, 3""",
    "rollup_sessions_daily": """
        SELECT merchant_id, day, channel, count(*), count(*) FILTER (WHERE purchased) FROM _rollup_spans
        WHERE spans = 1 GROUP BY ALL ORDER BY 1, 2""",
    "rollup_session_days": """
        SELECT merchant_id, session_id, day, channel, purchased FROM _rollup_spans
        WHERE spans > 1 ORDER BY 1, 3""",
}
_SPANS = """
    CREATE OR REPLACE TEMP TABLE _rollup_spans AS
    WITH e AS (
        SELECT o.merchant_id, o.session_id, CAST(o.event_ts AS DATE) AS day, o.channel,
               bool_or(o.event_type = 'purchase') AS purchased
        FROM main.interactions o WHERE {where} GROUP BY ALL)
    SELECT *, count(*) OVER (PARTITION BY merchant_id, session_id) AS spans FROM e"""


def refresh(con: duckdb.DuckDBPyConnection, merchant_ids: Iterable[int] | None = None,
            tables: Iterable[str] = TABLES) -> None:
    """Rebuild the rollup rows of ``merchant_ids`` (every merchant when None) from the base tables.

    Runs in the caller's transaction when one is open (loads call it just before their commit); the
    rollups then change together with the rows they summarise. ``tables`` limits the rebuild to some
    rollups (a schema step adding one).
    """
    tables = [t for t in TABLES if t in set(tables)]
    if merchant_ids is None:
        where, params = "TRUE", []
    else:
        ids = sorted({int(m) for m in merchant_ids})
        if not ids:
            return
        # The id list is bound as one parameter; every statement reads it through the same condition.
        where, params = "list_contains(?::INTEGER[], o.merchant_id)", [ids]
    for name in tables:
        if merchant_ids is None:
            con.execute(f"DELETE FROM main.{name}")
        else:
            con.execute(f"DELETE FROM main.{name} WHERE list_contains(?::INTEGER[], merchant_id)", params)
    spans = any(t.startswith("rollup_session") for t in tables)
    if spans:
        con.execute(_SPANS.format(where=where), params)
    try:
        for name in tables:
            select = _INSERTS[name]
            sql = select.format(where=where)
            con.execute(f"INSERT INTO main.{name} {sql}", params * select.count("{where}"))
    finally:
        if spans:
            con.execute("DROP TABLE IF EXISTS _rollup_spans")

