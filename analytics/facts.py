"""The filtered fact tables every analytics query starts from, and shared definitions.

Definitions used throughout ``analytics`` (documented once here):

- An order *document* is a row of ``orders``: a ``sale``, a ``return`` (credit note, negative lines) or an
  ``adjustment`` (bad debt, manual; never counted as sales).
- An order's *region* is where it was shipped (``orders.shipping_region``), else, for in-store sales,
  the region of the store that sold it (``stores.region``). Online shops serve every region, so their
  own region is usually empty.
- *Sale orders in scope*: sale documents placed in the period (``order_ts`` on ``start``..``end``), matching
  the channel, payment-method, store and region filters and, when categories are selected, holding at least
  one line of those categories. ``status`` is ``completed``, ``cancelled`` or ``returned``.
- *Revenue lines*: lines of merchandise products (``products.is_merchandise``; postage, fees and manual
  lines are not sales) in the selected categories, of non-cancelled sale and return documents matching the
  filters. Amounts are ``line_amount``: after line discounts, before shipping, merchant currency.
- *Sales* are the sale orders' lines. *Returns* come in two forms and both count: a sale order whose
  ``status`` is ``returned`` (the goods came back; generated data and shop exports record it that way) and
  a return document (a credit note, e.g. an Online Retail ``C`` invoice, with negative lines, dated when
  credited). The schema does not link a credit note to its sale, so sources use one form or the other.
- *Revenue* = sales - returns = the lines with ``in_revenue``: lines of sale orders not returned, plus the
  (negative) lines of return documents. Units and cost of goods use the same lines.
- *Line cost*: ``order_lines.unit_cost`` (cost at the time of sale), else the catalogue's current
  ``products.unit_cost``; null when neither is known. Margins use only lines whose cost is known.

Everything is built from ``access.table`` (already merchant-scoped); string filter values travel through
``access.isin`` as data. Money sums stay DECIMAL in the engine (exact on DuckDB and Spark alike) and ratios
are taken on the client (see ``analytics.frames``), so both engines return identical figures.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref

import ibis
import ibis.expr.types as ir

from analytics.filters import Filters
from data.access import DataAccess

SALE = "sale"
RETURN = "return"
CANCELLED = "cancelled"
RETURNED = "returned"


_TABLES: weakref.WeakKeyDictionary[DataAccess, dict[str, ir.Table]] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def table(access: DataAccess, name: str) -> ir.Table:
    """``access.table(name)``, looked up once per DataAccess.

    Every lookup asks the engine for the table's schema (a catalog query, ~15 ms on DuckDB), and one KPI
    query names the same tables many times. The scoped expression is immutable, so reusing it is safe.
    """
    with _TABLES_LOCK:
        tables = _TABLES.setdefault(access, {})
    t = tables.get(name)
    if t is None:
        t = tables[name] = access.table(name)
    return t


def _bounds(start: dt.date, end: dt.date) -> tuple[ir.TimestampScalar, ir.TimestampScalar]:
    # A half-open timestamp range instead of casting every order_ts to a date: same days, no per-row cast.
    lo = dt.datetime.combine(start, dt.time())
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    return ibis.literal(lo, type="timestamp"), ibis.literal(hi, type="timestamp")


def in_period(ts: ir.TimestampColumn, start: dt.date, end: dt.date) -> ir.BooleanColumn:
    """``ts`` falls on a day from ``start`` to ``end`` (inclusive)."""
    lo, hi = _bounds(start, end)
    return (ts >= lo) & (ts < hi)


def order_documents(
    access: DataAccess, f: Filters, *, dated: bool = True, categories: bool = True
) -> ir.Table:
    """Order documents (all types and statuses) matching the filters.

    ``dated=False`` drops the period condition (all history); ``categories=False`` drops the
    "holds a line of the selected categories" condition (callers that filter lines themselves).
    Columns: those of ``orders``.
    """
    o = table(access, "orders")
    conds = [in_period(o.order_ts, f.start, f.end)] if dated else []
    conds += order_attribute_conditions(access, o, f)
    if categories and f.categories:
        conds.append(o.order_id.isin(category_lines(access, f).order_id))
    return o.filter(*conds) if conds else o


def order_attribute_conditions(access: DataAccess, t: ir.Table, f: Filters) -> list[ir.BooleanColumn]:
    """The channel, payment, store and region filters on ``t``: ``orders`` or a rollup carrying its columns."""
    conds = []
    if f.channels:
        conds.append(access.isin(t.channel, f.channels))
    if f.payment_methods:
        conds.append(access.isin(t.payment_method, f.payment_methods))
    if f.store_ids:
        conds.append(access.isin(t.store_id, f.store_ids))
    if f.regions:
        conds.append(in_regions(access, t, f.regions))  # shipped region, else the store's
    return conds


def in_regions(access: DataAccess, o: ir.Table, regions: tuple[str, ...] | list[str]) -> ir.BooleanColumn:
    """The order's region (shipping region, else its store's region) is one of ``regions``."""
    s = table(access, "stores")
    store_ids = s.filter(access.isin(s.region, regions)).store_id
    shipped = o.shipping_region.notnull() & access.isin(o.shipping_region, regions)
    return shipped | (o.shipping_region.isnull() & o.store_id.isin(store_ids))


def order_region(o: ir.Table, s: ir.Table) -> ir.StringColumn:
    """Region of each order of ``o`` left-joined to stores ``s``: shipping region, else the store's."""
    return ibis.coalesce(o.shipping_region, s.region)


def category_lines(access: DataAccess, f: Filters) -> ir.Table:
    """Lines whose product is in the selected categories (all lines when none are selected)."""
    lines = table(access, "order_lines")
    if not f.categories:
        return lines
    p = table(access, "products")
    return lines.filter(lines.product_id.isin(p.filter(access.isin(p.category, f.categories)).product_id))


def sale_orders(access: DataAccess, f: Filters, *, dated: bool = True) -> ir.Table:
    """Sale orders in scope (all statuses). Columns: those of ``orders``."""
    o = order_documents(access, f, dated=dated)
    return o.filter(o.order_type == SALE)


def placed_orders(access: DataAccess, f: Filters, *, dated: bool = True) -> ir.Table:
    """Non-cancelled sale orders in scope: the orders that count. Columns: those of ``orders``."""
    o = sale_orders(access, f, dated=dated)
    return o.filter(o.status != CANCELLED)


def revenue_lines(access: DataAccess, f: Filters) -> ir.Table:
    """Revenue lines (see module doc), one row per order line.

    Columns: order_id, line_no, product_id, quantity (units, negative on returns), line_amount (money),
    discount_amount (money), list_amount (quantity x unit_price, money), cost (money per unit or null),
    line_cost (quantity x cost, money or null), sku, product_name, category, order_ts, order_type, status,
    store_id, shipping_region, customer_id, channel, payment_method, is_sale (bool: line of a sale order), in_revenue (bool:
    counts toward revenue, i.e. not a line of a sale order that was returned).
    """
    o = order_documents(access, f, categories=False)
    o = o.filter(o.order_type.isin([SALE, RETURN]), o.status != CANCELLED)
    p = table(access, "products")
    p = p.filter(p.is_merchandise)
    if f.categories:
        p = p.filter(access.isin(p.category, f.categories))
    lines = table(access, "order_lines")
    j = lines.join(o, lines.order_id == o.order_id).join(p, lines.product_id == p.product_id)
    cost = ibis.coalesce(lines.unit_cost, p.unit_cost)
    return j.select(
        order_id=lines.order_id,
        line_no=lines.line_no,
        product_id=lines.product_id,
        quantity=lines.quantity,
        line_amount=lines.line_amount,
        discount_amount=lines.discount_amount,
        list_amount=lines.quantity * lines.unit_price,
        cost=cost,
        line_cost=lines.quantity * cost,
        sku=p.sku,
        product_name=p.name,
        category=p.category,
        order_ts=o.order_ts,
        order_type=o.order_type,
        status=o.status,
        store_id=o.store_id,
        shipping_region=o.shipping_region,
        customer_id=o.customer_id,
        channel=o.channel,
        payment_method=o.payment_method,
        is_sale=o.order_type == SALE,
        in_revenue=(o.order_type == RETURN) | (o.status != RETURNED),
    )


def first_orders(access: DataAccess) -> ir.Table:
    """Each customer's first non-cancelled sale order ever with the merchant (no filter applies).

    Columns: customer_id, first_ts (timestamp of that order).
    """
    o = table(access, "orders")
    o = o.filter(o.order_type == SALE, o.status != CANCELLED, o.customer_id.notnull())
    return o.group_by("customer_id").aggregate(first_ts=o.order_ts.min())


def sessions(access: DataAccess, f: Filters) -> ir.Table:
    """Browsing sessions with events in the period (channel filter applied).

    A session counts on each day it has events in the period. Columns: session_id, converted (bool: the
    session has a ``purchase`` event in the period).
    """
    e = table(access, "interactions")
    conds = [in_period(e.event_ts, f.start, f.end)]
    if f.channels:
        conds.append(access.isin(e.channel, f.channels))
    e = e.filter(*conds)
    return e.group_by("session_id").aggregate(converted=(e.event_type == "purchase").any())


def stack(parts: list[ir.Table], keys: list[str]) -> ir.Table:
    """Aggregates with the same keys but different measures, combined into one table by key.

    Each part holds ``keys`` plus its own measures (one row per key); a measure missing from a part is
    filled with a typed null, the parts are unioned, and each measure is summed per key (null where no
    part had it). One query instead of a join, and no right-hand-side key columns to coalesce.
    """
    schema: dict[str, object] = {}
    for part in parts:
        for name, dtype in part.schema().items():
            schema.setdefault(name, dtype)
    measures = [n for n in schema if n not in keys]
    aligned = [
        part.select(
            *[part[k] for k in keys],
            *[part[m] if m in part.columns else ibis.null(schema[m]).name(m) for m in measures],
        )
        for part in parts
    ]
    u = ibis.union(*aligned, distinct=False)
    return u.group_by(keys).aggregate(**{m: u[m].sum() for m in measures})
