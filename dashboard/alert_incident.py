"""One incident on the Alerts page: its facts, the metric against its expected band, the drill-down by
dimension, and the ranked causes with their evidence.

The band and the drill-down are computed for this incident only, when it is opened, and shared across sessions
(``alert_data.band``/``breakdown``). Names from data (dimension values, cause labels and evidence) reach the
screen through grids and ``st.text`` (plain text) and the charts through ``plain_text.plotly_text``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import alert_charts, alert_data, tables, widgets
from dashboard.formatting import format_money
from data.store.alert_incidents import StoredIncident
from models.alerts.watch import METRICS, RATE_UNITS

CAUSE_WORDS = {"dimension": "Where", "stockout": "Out of stock", "declines": "Payments declined or failing",
               "campaign_end": "Campaign ended", "funnel": "Checkout funnel", "combined": "Several metrics at once"}


def value_text(value: float | None, unit: str, currency: str | None) -> str:
    """A figure of a metric in its unit ("EUR 1,234", "12.5%", "41 orders", "2.3 days")."""
    if value is None:
        return "not known"
    if unit == "money":
        return format_money(float(value), currency or "")
    if unit in RATE_UNITS:
        return f"{value:.1%}"
    if unit == "days":
        return f"{value:,.1f} days"
    return f"{value:,.0f} {unit}".rstrip()


def facts(inc: StoredIncident, merchant: str, currency: str | None) -> list[tuple[str, str]]:
    unit = METRICS[inc.metric].unit if inc.metric in METRICS else ""
    start, end = alert_data.shop_time(inc.started_at), alert_data.shop_time(inc.ended_at)
    fmt = "%a %d %b %Y %H:%M" if inc.grain == "hour" else "%a %d %b %Y"
    return [
        ("Merchant", merchant),
        ("Series", alert_data.series_words(inc.metric, inc.dimension, inc.dimension_value)),
        ("What happened", alert_data.DIRECTION_WORDS.get(inc.direction, inc.direction)
         + f" against what the {'hour' if inc.grain == 'hour' else 'day'} of the week usually brings"),
        ("When (shop time)", f"{start:{fmt}} to {end:{fmt}}"),
        ("Observed", value_text(inc.observed, unit, currency)),
        ("Expected", value_text(inc.expected, unit, currency)),
        ("Normal range", f"{value_text(inc.low, unit, currency)} to {value_text(inc.high, unit, currency)}"),
        ("Severity", f"{alert_data.severity(inc.score):.0%} (robust score {inc.score:,.1f})"),
        ("Anomalies grouped", f"{inc.anomalies:,} flagged series and hours"),
        ("First detected", f"{inc.first_seen_at:%d %b %Y %H:%M} UTC"),
    ]


def causes_frame(inc: StoredIncident) -> pl.DataFrame:
    """The ranked causes: cause_rank, cause_kind (words), cause, evidence, weight (0-1)."""
    causes = list(inc.causes or [])
    return pl.DataFrame({"cause_rank": list(range(1, len(causes) + 1)),
                         "cause_kind": [CAUSE_WORDS.get(c.get("kind"), str(c.get("kind"))) for c in causes],
                         "cause": [str(c.get("label", "")) for c in causes],
                         "evidence": [str(c.get("evidence", "")) for c in causes],
                         "weight": [float(c.get("weight") or 0.0) for c in causes]},
                        schema={"cause_rank": pl.Int64, "cause_kind": pl.Utf8, "cause": pl.Utf8, "evidence": pl.Utf8,
                                "weight": pl.Float64})


def breakdown_table(split: pl.DataFrame, unit: str, dimension: str = "") -> pl.DataFrame:
    """The drill-down for the grid: figures named by their unit (``observed_money``...), so each heading says it;
    values of coded dimensions (payment method, channel) in words."""
    split = split.with_columns(pl.col("value").map_elements(lambda v: alert_data.dimension_value_text(dimension, v),
                                                            return_dtype=pl.Utf8))
    # A rate's drill-down splits its counts: sessions with a purchase, declined or failed payments.
    suffix = {"share": "sessions", "payment_share": "payments"}.get(unit, unit)
    suffix = suffix if suffix in ("money", "sessions", "orders", "payments", "days") else "orders"
    return split.select(pl.col("value").alias("dimension_value"),
                        *(pl.col(c).alias(f"{c}_{suffix}") for c in ("observed", "expected", "difference")),
                        pl.col("share").alias("part_of_difference"))


def _render_split(table: pl.DataFrame, inc: StoredIncident, dim: str, unit: str, currency: str | None) -> None:
    if not table.height:
        st.caption("Nothing was recorded in this span to split.")
        return
    widgets.render_figure(alert_charts.build_breakdown_figure(
        table, dim, title=f"{alert_data.metric_title(inc.metric)} by {alert_data.DIMENSION_WORDS[dim].lower()}, "
                          "observed minus expected", unit=unit, currency=currency), key="al_breakdown")
    tables.render_dataframe(breakdown_table(table, unit, dim), currency if unit == "money" else None,
                            registry=tables.ALERT_COLUMNS, key="al_breakdown_table")


def render_incident(inc: StoredIncident, merchant: str, currency: str | None, data_version: int,
                    as_of: dt.datetime | None) -> None:
    unit = METRICS[inc.metric].unit if inc.metric in METRICS else ""
    told = facts(inc, merchant, currency)
    tables.render_dataframe(pl.DataFrame({"about": [k for k, _ in told], "detail": [v for _, v in told]}),
                            registry=tables.ALERT_COLUMNS, key="al_facts")
    title = alert_data.series_words(inc.metric, inc.dimension, inc.dimension_value)
    dims = alert_data.drill_dimensions(inc)
    if st.session_state.get("al_drill") not in dims:
        st.session_state.pop("al_drill", None)
    dim = st.session_state.get("al_drill", dims[0] if dims else None)
    series, split = alert_data.band_and_breakdown(inc, dim, data_version, as_of)
    try:
        band = series.result()
    except Exception as exc:  # noqa: BLE001 - a series that cannot be read must not hide the workflow
        st.warning(f"The series behind this incident cannot be drawn now ({type(exc).__name__}).")
        band = None
    if band is not None:
        per = "hour" if inc.grain == "hour" else "day"
        widgets.render_figure(alert_charts.build_band_figure(
            band, title=f"{title} per {per}, against its expected range", unit=unit, currency=currency,
            start=alert_data.shop_time(inc.started_at), end=alert_data.shop_time(inc.ended_at), grain=inc.grain),
            key="al_band")
    st.subheader("Where it happened")
    if dims:
        st.selectbox("Split by", dims, key="al_drill",
                     format_func=lambda d: alert_data.DIMENSION_WORDS.get(d, d))
        try:
            _render_split(split.result(), inc, dim, unit, currency)
        except Exception as exc:  # noqa: BLE001 - as for the band: the rest of the incident stays usable
            st.warning(f"The split by {alert_data.DIMENSION_WORDS[dim].lower()} cannot be computed now "
                       f"({type(exc).__name__}).")
    else:
        st.caption("This metric is watched for the whole shop only.")
    st.subheader("Likely causes")
    causes = causes_frame(inc)
    if causes.height:
        st.caption("Ranked, most likely first, each with the evidence behind it.")
        shown = tables.display_frame(causes, tables.ALERT_COLUMNS)
        config = tables.column_config(shown, None, tables.ALERT_COLUMNS)
        config["evidence"] = {**config["evidence"], "width": "large"}  # the evidence is what a person reads
        st.dataframe(shown, column_config=config, hide_index=True, key="al_causes")
    else:
        st.caption("No cause stood out: no dimension, stock-out, decline jump, campaign end or funnel step "
                   "explains this incident.")
