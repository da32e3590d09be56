"""Tables for people: every ``st.dataframe`` goes through ``render_dataframe``, which labels and formats each
column from one registry of known columns (label in words, kind, unit).

Kinds and how they read:

- ``money``: thousands separators and two decimals; the label carries the currency ("Revenue (EUR)").
- ``count``: whole numbers with thousands separators. ``id``: whole numbers without separators.
- ``rate``: a fraction shown as a percentage. ``days``: one decimal, "(days)" in the label.
- ``date``: "2 Oct 2026" (never "00:00:00"); ``month``: "Oct 2026"; ``datetime``: "2 Oct 2026, 14:05".
- ``text``, ``flag`` (yes/no), ``weekday`` (0 = Monday, shown by name).

Empty cells are empty: the grid draws a missing value as a faded "None", so a column with gaps is handed to it
as text formatted here the same way (right-aligned when it holds numbers), with "" where the value is missing.

``label_for`` raises ``UnknownColumn`` for a column the registry does not know; a page still shows such a
column, under its name in words ("Comparison covered"), and the page tests fail on it (they check every
table on every page against the registry), so a new column gets its entry before it ships.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl
import streamlit as st

KINDS = ("text", "id", "count", "money", "rate", "days", "number", "date", "month", "datetime", "flag", "weekday")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SNAKE = re.compile(r"[a-z0-9]_[a-z0-9]")


class UnknownColumn(KeyError):
    """A frame holds a column the registry does not describe (it would be shown as its raw name)."""


@dataclass(frozen=True)
class Column:
    label: str  # in words, without the unit
    kind: str
    help: str = ""


def _c(label: str, kind: str, help: str = "") -> Column:
    if kind not in KINDS:
        raise ValueError(f"unknown column kind {kind!r}")
    return Column(label, kind, help)


# Every column a page shows, by its name in the analytics frames (and the Data page's tables).
COLUMNS: dict[str, Column] = {
    # keys and names
    "order_id": _c("Order", "id"), "product_id": _c("Product id", "id"), "store_id": _c("Store id", "id"),
    "customer_id": _c("Customer", "id"), "merchant_id": _c("Merchant id", "id"),
    "sku": _c("SKU", "text"), "product_name": _c("Product", "text"), "store_name": _c("Store", "text"),
    "category": _c("Category", "text"), "region": _c("Region", "text"), "store_region": _c("Store region", "text"),
    "kind": _c("Kind", "text"), "channel": _c("Channel", "text"), "payment_method": _c("Payment method", "text"),
    "group": _c("Group", "text"), "segment": _c("Customer segment", "text"), "partner": _c("Carrier", "text"),
    "order_type": _c("Document", "text", "Sale, return or adjustment."), "status": _c("Status", "text"),
    "key": _c("Figure", "text"),
    # time
    "day": _c("Day", "date"), "comparison_day": _c("Compared day", "date"), "order_ts": _c("Ordered at", "datetime"),
    "period_start": _c("Period from", "date"), "cohort_month": _c("First order in", "month"),
    "weekday": _c("Weekday", "weekday"), "hour": _c("Hour", "count"), "months_since": _c("Months since first order", "count"),
    "days": _c("Days in period", "count"), "covered_days": _c("Days with data", "count"),
    "partial": _c("Partial period", "flag", "The data or the chosen dates cover only part of it."),
    "comparison_covered": _c("Compared day has data", "flag"),
    # amounts
    "revenue": _c("Revenue", "money"), "comparison_revenue": _c("Compared revenue", "money"),
    "sales": _c("Sales", "money"), "returns": _c("Returns", "money"), "net_amount": _c("Net amount", "money"),
    "average_order_value": _c("Average order value", "money"), "list_value": _c("Value at list price", "money"),
    "discount_cost": _c("Discounts granted", "money"), "cogs": _c("Cost of goods", "money"),
    "gross_margin": _c("Gross margin", "money"),
    # counts
    "orders": _c("Orders", "count"), "comparison_orders": _c("Compared orders", "count"),
    "units": _c("Units", "count"), "lines": _c("Lines", "count"), "customers": _c("Customers", "count"),
    "cohort_size": _c("Customers in cohort", "count"), "shipments": _c("Shipments", "count"),
    "delivered": _c("Delivered", "count"), "in_transit": _c("In transit", "count"),
    "on_time": _c("On time", "count"), "late": _c("Late", "count"), "rows": _c("Rows", "count"),
    "line": _c("Line", "count"),
    # rates
    "revenue_share": _c("Share of revenue", "rate"), "order_share": _c("Share of orders", "rate"),
    "sales_share": _c("Share of sales", "rate"), "retention": _c("Retention", "rate"),
    "on_time_rate": _c("On-time rate", "rate"), "gross_margin_rate": _c("Gross margin rate", "rate"),
    "discount_rate": _c("Discount rate", "rate"), "cost_coverage": _c("Revenue with known cost", "rate"),
    # durations
    "avg_delay_days": _c("Average delay", "days"), "max_delay_days": _c("Longest delay", "days"),
    # KPI comparison frame
    "value": _c("Value", "number"), "previous": _c("Previous period", "number"),
    "last_year": _c("Last year", "number"),
    "delta_previous": _c("Change against previous period", "number"),
    "delta_last_year": _c("Change against last year", "number"),
    "change_previous": _c("Change against previous period", "rate"),
    "change_last_year": _c("Change against last year", "rate"),
    # lost sales (Overview card's drill-down): estimated by the demand model, so units carry decimals
    "stockout_days": _c("Days out of stock", "count", "Days the product ended with nothing on hand."),
    "lost_units": _c("Units lost (estimated)", "number",
                     "Demand the empty shelf turned away, estimated from the product's typical days."),
    "lost_revenue": _c("Revenue lost (estimated)", "money", "Units lost times the product's average price."),
    # Data page
    "table": _c("Table", "text"), "first": _c("First", "text"), "last": _c("Last", "text"),
    "date_column": _c("Dated by", "text"), "username": _c("Username", "text"), "name": _c("Name", "text"),
    "role": _c("Role", "text"), "merchants": _c("Merchants", "text"), "column": _c("Column", "text"),
    "reason": _c("Reason", "text"),
}
# Import rejects (line, column, value, reason): "value" is the file's raw text there, not a KPI value.
REJECT_COLUMNS = {**COLUMNS, "line": _c("Line in the file", "id"), "value": _c("Value in the file", "text")}
# Merchant ranking (staff): "merchants" counts merchants there, and each money column is in one currency.
RANKING_COLUMNS = {
    **COLUMNS, "merchant": _c("Merchant", "text"), "currency": _c("Currency", "text"),
    "rank": _c("Rank", "count", "1 = highest revenue among the merchants of the same currency."),
    "previous_revenue": _c("Revenue, previous period", "money"),
    "revenue_change": _c("Revenue change", "rate", "Against the previous period of equal length."),
    "previous_orders": _c("Orders, previous period", "count"),
    "orders_change": _c("Orders change", "rate", "Against the previous period of equal length."),
    "merchants": _c("Merchants", "count"), "revenue_converted": _c("Revenue, converted", "money"),
    "previous_revenue_converted": _c("Revenue, previous period, converted", "money"),
    "converted_rank": _c("Rank, converted", "count", "1 = highest converted revenue overall."),
}

_MONEY_FMT, _COUNT_FMT, _DAYS_FMT = "%,.2f", "%,d", "%,.1f"


def fallback(name: str) -> Column:
    """A column the registry does not know, shown in words rather than as ``snake_case``."""
    return Column(name.replace("_", " ").strip().capitalize() or name, "text")


def label_for(name: str, currency: str | None = None, registry: Mapping[str, Column] = COLUMNS) -> str:
    """The header of column ``name``: its label with its unit ("Revenue (EUR)", "Average delay (days)")."""
    if name not in registry:
        raise UnknownColumn(f"column {name!r} is not in dashboard.tables.COLUMNS: add its label, kind and unit")
    col = registry[name]
    if col.kind == "money" and currency:
        return f"{col.label} ({currency})"
    if col.kind == "days":
        return f"{col.label} (days)"
    return col.label


def _text(value: object, kind: str) -> str:
    """One cell as text, formatted like the grid formats the kind (for columns with empty cells)."""
    if value is None:
        return ""
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "id":
        return f"{value:.0f}" if isinstance(value, float) else str(value)
    if kind == "rate":
        return f"{value:.1%}"
    if kind in ("days", "number"):
        return f"{value:,.1f}" if kind == "days" else f"{value:,.2f}"
    if kind == "date":
        return f"{value:%d %b %Y}"
    if kind == "month":
        return f"{value:%b %Y}"
    if kind == "datetime":
        return f"{value:%d %b %Y, %H:%M}"
    if kind == "flag":
        return "yes" if value else "no"
    return str(value)


def display_frame(frame: pl.DataFrame, registry: Mapping[str, Column] = COLUMNS) -> pl.DataFrame:
    """``frame`` ready for the grid: weekdays by name, and columns with missing values as formatted text."""
    out = []
    for name, dtype in frame.schema.items():
        kind = registry[name].kind if name in registry else "text"
        series = frame[name]
        if kind == "weekday":
            series = series.map_elements(lambda d: WEEKDAY_NAMES[int(d)], return_dtype=pl.Utf8)
        if series.null_count() and (kind != "text" or dtype != pl.Utf8):
            series = pl.Series(name, [_text(v, kind) for v in series.to_list()], dtype=pl.Utf8)
        elif series.null_count():
            series = series.fill_null("")
        out.append(series.alias(name))
    return pl.DataFrame(out) if out else frame


def column_config(frame: pl.DataFrame, currency: str | None = None,
                  registry: Mapping[str, Column] = COLUMNS) -> dict[str, object]:
    """``st.column_config`` for every column of ``frame`` (as ``display_frame`` hands it to the grid);
    a column missing from ``registry`` gets ``fallback`` (see ``unknown_columns`` for the tests)."""
    config: dict[str, object] = {}
    registry = {**{n: fallback(n) for n in frame.columns if n not in registry}, **registry}
    for name, dtype in frame.schema.items():
        label = label_for(name, currency, registry)
        col = registry[name]
        common = {"label": label, "help": col.help or None}
        if dtype == pl.Utf8:  # text, or numbers with gaps formatted by display_frame
            numeric = col.kind in ("money", "count", "rate", "days", "number", "id")
            config[name] = st.column_config.TextColumn(alignment="right" if numeric else None, **common)
        elif col.kind == "money":
            config[name] = st.column_config.NumberColumn(format=_MONEY_FMT, **common)
        elif col.kind == "count":
            config[name] = st.column_config.NumberColumn(format=_COUNT_FMT, **common)
        elif col.kind == "id":
            config[name] = st.column_config.NumberColumn(format="%d", **common)
        elif col.kind == "rate":
            config[name] = st.column_config.NumberColumn(format="percent", **common)
        elif col.kind in ("days", "number"):
            whole = dtype.is_integer()  # a longest delay of 3 days reads "3", an average "1.3"
            fmt = "%,d" if whole else _DAYS_FMT if col.kind == "days" else "%,.2f"
            config[name] = st.column_config.NumberColumn(format=fmt, **common)
        elif col.kind in ("date", "month"):
            config[name] = st.column_config.DateColumn(format="D MMM YYYY" if col.kind == "date" else "MMM YYYY",
                                                       **common)
        elif col.kind == "datetime":
            config[name] = st.column_config.DatetimeColumn(format="D MMM YYYY, HH:mm", **common)
        elif col.kind == "flag":
            config[name] = st.column_config.CheckboxColumn(**common)
        else:
            config[name] = st.column_config.Column(**common)
    return config


def unknown_columns(columns: Iterable[str], registry: Mapping[str, Column] = COLUMNS) -> list[str]:
    return [c for c in columns if c not in registry]


def snake_case_labels(labels: Iterable[str]) -> list[str]:
    """The labels that read like code (``on_time_rate``)."""
    return [label for label in labels if SNAKE.search(label)]


def render_dataframe(frame: pl.DataFrame, currency: str | None = None, *, registry: Mapping[str, Column] = COLUMNS,
                     container: object = None, **kwargs) -> None:
    """``st.dataframe`` of ``frame`` with labels, units and formats from ``registry`` (no index)."""
    shown = display_frame(frame, registry)
    box = container if container is not None else st
    kwargs.setdefault("hide_index", True)
    box.dataframe(shown, column_config=column_config(shown, currency, registry), **kwargs)


# Stock-out risk page (issue 8): the alert list and one alert's purchase-order history. Units are in the labels
# where the kind carries none; money takes the page's one currency.
STOCKOUT_COLUMNS = {
    **COLUMNS, "merchant": _c("Merchant", "text"), "product": _c("Product", "text"),
    "location": _c("Location", "text"),
    "stockout_probability": _c("Chance of a stock-out", "rate",
                               "How likely the location runs out before the next delivery can arrive."),
    "revenue_at_risk": _c("Revenue at risk", "money", "Sales expected to be lost if it runs out."),
    "days_of_cover": _c("Cover", "days", "On hand divided by forecast demand a day."),
    "on_hand": _c("On hand (units)", "count"),
    "daily_demand": _c("Forecast demand (units a day)", "number"),
    "open_po_units": _c("On order (units)", "count", "Units on open purchase orders."),
    "next_delivery": _c("Next delivery", "date", "When the earliest open purchase order is due."),
    "supplier_lead_days": _c("Supplier lead time", "days"),
    "reorder_point": _c("Reorder point (units)", "count",
                        "Order when stock on hand and on order falls to this, for the chosen service level."),
    "order_quantity": _c("Suggested order (units)", "count"),
    "abc_class": _c("ABC class", "text", "A: the products making most of the revenue; C: the least."),
    "xyz_class": _c("XYZ class", "text", "X: steady demand; Z: erratic demand."),
    "unit_price": _c("Unit price", "money"),
    "status_text": _c("Status", "text"), "assignee": _c("Assigned to", "text"),
    "ordered_date": _c("Ordered", "date"), "expected_date": _c("Promised for", "date"),
    "received_date": _c("Received", "date"), "quantity": _c("Units ordered", "count"),
    "recorded_at": _c("When", "datetime"), "actor": _c("Who", "text"), "action_text": _c("What", "text"),
    "about": _c("About", "text"), "detail": _c("Value", "text"),
    "lead_time_days": _c("Lead time", "days"),
    "days_late": _c("Late by", "days", "Received minus promised; negative means early."),
}


# Baskets page (issue 10): rules, bought together, suggestions and bundles; products are "SKU · name" text.
BASKET_COLUMNS = {
    **COLUMNS,
    "if_products": _c("If the basket holds", "text"), "then_products": _c("It also holds", "text"),
    "support": _c("Support", "rate", "Share of all baskets holding every product of the rule."),
    "confidence": _c("Confidence", "rate", "Of the baskets holding the first products, the share also holding "
                                           "the others."),
    "lift": _c("Lift", "number", "Confidence over how often the other products are bought anyway: 1 is chance, "
                                 "3 is three times as often as chance."),
    "baskets": _c("Baskets", "count", "Baskets holding every product of the rule or bundle."),
    "rank": _c("Rank", "count", "1 = the best suggestion."),
    "why": _c("Why", "text"),
    "bundle_products": _c("Bundle", "text"),
    "bundle_margin": _c("Margin of one bundle", "money", "Sum of list price minus unit cost of its products."),
    "bundle_stock": _c("Bundles in stock (units)", "count", "Fewest units on hand among its products."),
    "bundle_score": _c("Score", "number", "Lift x margin x bundles in stock."),
    "orders": _c("Orders", "count"),
}

# Alerts page (issue 11): the alert list, one incident (facts, drill-down, causes, history), the rules editor and
# the delivery channels. Figures of the drill-down are named by the metric's unit (``observed_money``...).
_ALERT_UNITS = {"money": ("money", ""), "sessions": ("number", " (sessions with a purchase)"), "days": ("days", ""),
                "orders": ("number", " (orders)"), "payments": ("number", " (payments)")}
ALERT_COLUMNS = {
    **COLUMNS, "merchant": _c("Merchant", "text"), "kind_text": _c("Alert", "text"),
    "title": _c("What happened", "text"), "metric_text": _c("Metric", "text"),
    "dimension_text": _c("Split by", "text"),
    "severity": _c("Severity", "rate", "Incidents: how far outside the expected range (robust score, 0-100%); "
                                       "stock-outs: the chance of running out."),
    "started_at": _c("Started (shop time)", "datetime"), "status_text": _c("State", "text"),
    "assignee": _c("Assigned to", "text"),
    "about": _c("About", "text"), "detail": _c("Value", "text"),
    "dimension_value": _c("Value", "text"),
    **{f"{figure}_{unit}": _c(f"{words}{suffix}", kind) for unit, (kind, suffix) in _ALERT_UNITS.items()
       for figure, words in (("observed", "Observed"), ("expected", "Expected"),
                             ("difference", "Observed minus expected"))},
    "part_of_difference": _c("Part of the difference", "rate", "This value's part of the whole difference."),
    "cause_rank": _c("Rank", "count"), "cause_kind": _c("Kind of cause", "text"), "cause": _c("Cause", "text"),
    "evidence": _c("Evidence", "text"), "weight": _c("Weight", "rate", "How strongly the evidence points here."),
    "recorded_at": _c("When (UTC)", "datetime"), "actor": _c("Who", "text"), "action_text": _c("What", "text"),
    "rule_text": _c("Rule", "text"), "enabled": _c("Watched", "flag"),
    "sensitivity": _c("Sensitivity (0-1)", "number", "0: only the most extreme; 1: touchy."),
    "direction_text": _c("Alert on", "text"),
    "min_volume": _c("Minimum volume (expected count)", "number"), "quiet_text": _c("Quiet hours (shop time)", "text"),
    "incidents": _c("Incidents", "count"), "useful": _c("Useful (votes)", "count"),
    "not_useful": _c("Not useful (votes)", "count"),
    "useful_share": _c("Useful share", "rate", "Useful votes out of all votes on this rule's incidents."),
    "channel": _c("Channel", "text"), "service": _c("Service", "text"), "masked_url": _c("Address (masked)", "text"),
    "instant": _c("Each incident", "flag"), "digest": _c("Daily digest", "flag"),
}


# Customers page (issue 10): segments, movement, clusters, one customer's history and orders, target lists.
CUSTOMER_COLUMNS = {
    **COLUMNS,
    "customer_ref": _c("Customer reference", "text", "The merchant's own customer id."),
    "country": _c("Country", "text"),
    "recency_days": _c("Since last purchase", "days", "Days from the last purchase to the as-of date."),
    "frequency": _c("Purchases", "count", "Non-cancelled sale orders up to the as-of date."),
    "monetary": _c("Revenue", "money", "Sales minus returns up to the as-of date."),
    "r_score": _c("R score", "count", "Recency quintile: 5 = bought most recently."),
    "f_score": _c("F score", "count", "Purchases quintile: 5 = the most purchases."),
    "m_score": _c("M score", "count", "Revenue quintile: 5 = the most revenue."),
    "customer_share": _c("Share of customers", "rate"),
    "average_revenue": _c("Revenue per customer", "money"),
    "median_recency_days": _c("Median time since last purchase", "days"),
    "median_frequency": _c("Median purchases", "number"),
    "median_monetary": _c("Median revenue", "money"),
    "from_segment": _c("From segment", "text"), "to_segment": _c("To segment", "text"),
    "cluster": _c("Cluster", "id"), "description": _c("In words", "text"),
    "top_segment": _c("Commonest segment", "text", "The rule-based segment most of the cluster's customers are in."),
    "top_segment_share": _c("Share in that segment", "rate"),
    "k": _c("Groups", "count"), "silhouette": _c("Silhouette", "number", "-1 to 1: higher means tighter, "
                                                                          "better separated groups."),
    "as_of": _c("As of", "date"), "order_ref": _c("Order reference", "text"),
    "amount": _c("Merchandise amount", "money", "Merchandise lines of the document (returns negative)."),
    "counted_revenue": _c("Counted revenue", "money",
                          "The amount when it counts toward revenue: not cancelled, not returned."),
}
