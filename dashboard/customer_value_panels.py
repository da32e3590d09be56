"""The Customers page's predicted-value section: training status, what the customer value model predicts for
the merchant's customers (churn and value distributions), the too-little-data message, and the model card.

Reads the saved ``customer_value`` model only (``dashboard.models_ui``); nothing is trained or scored here.
Every figure is the merchant's own: the model is trained and saved per merchant.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import models_ui, widgets
from dashboard.context import PageContext
from dashboard.plain_text import markdown_text, plotly_text
from models.customers import outputs

KIND = outputs.KEY
models_ui.register_reader("customer_value_scores", outputs.load_scores)
models_ui.register_reader("customer_value_shortfall", outputs.load_shortfall)
models_ui.register_reader("customer_value_params", outputs.load_params)
CHURN_BANDS = ((0.0, 0.25, "Likely to buy again (under 25%)"), (0.25, 0.5, "Uncertain (25-50%)"),
               (0.5, 0.75, "Slipping away (50-75%)"), (0.75, 1.01, "Probably gone (75% or more)"))


def compute_churn_bands(scores: pl.DataFrame) -> pl.DataFrame:
    """band (words), customers (count), value_180 (sum of clv_180, money) per churn band, in band order."""
    rows = []
    for lo, hi, words in CHURN_BANDS:
        part = scores.filter((pl.col("churn_90") >= lo) & (pl.col("churn_90") < hi))
        rows.append({"band": words, "customers": part.height, "value_180": float(part["clv_180"].sum())})
    return pl.DataFrame(rows, schema={"band": pl.Utf8, "customers": pl.Int64, "value_180": pl.Float64})


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title={"text": plotly_text(title), "x": 0, "xanchor": "left"}, height=320,
                      margin={"l": 10, "r": 30, "t": 50, "b": 10}, showlegend=False, bargap=0.05)
    fig.update_xaxes(title=plotly_text(x_title), separatethousands=True)
    fig.update_yaxes(title=plotly_text(y_title), separatethousands=True)
    return fig


def build_churn_figure(scores: pl.DataFrame) -> go.Figure:
    """Customers by their chance of no purchase in the next 90 days (bins of 5 percentage points)."""
    fig = go.Figure(go.Histogram(x=(scores["churn_90"] * 100).to_list(), xbins={"start": 0, "end": 100, "size": 5},
                                 hovertemplate="%{x}%: %{y:,} customers<extra></extra>"))
    return _layout(fig, "Chance of no purchase in the next 90 days", "Chance (%)", "Customers")


def build_value_figure(scores: pl.DataFrame, currency: str) -> go.Figure:
    """Customers by expected spend over the next 180 days (the top 1% folded into the last bin)."""
    values = scores["clv_180"]
    top = float(values.quantile(0.99) or 0.0)
    fig = go.Figure(go.Histogram(x=values.clip(upper_bound=top).to_list(), nbinsx=40,
                                 hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
    return _layout(fig, "Expected spend over the next 180 days", f"Spend ({currency})", "Customers")


def render_value_section(ctx: PageContext, merchant_id: int) -> None:
    """Status, the too-little-data message or the predictions' distributions, and the model card."""
    saved, _job = models_ui.current_model(KIND, merchant_id, ctx.data_version)
    models_ui.render_training_status(KIND, merchant_id, saved)
    if saved is None:
        if models_ui.training_in_app():
            st.info("The customer value model has not been trained for this merchant yet.", icon=":material/info:")
        return
    shortfall = models_ui.read_payload(saved, "customer_value_shortfall")
    if shortfall is not None:
        st.warning(f"Not enough data to predict churn or customer value: {markdown_text(shortfall.message)}",
                   icon=":material/warning:")
        models_ui.render_model_card(saved, ctx.data_version)
        return
    scores = models_ui.read_payload(saved, "customer_value_scores")
    currency = str(models_ui.read_payload(saved, "customer_value_params").get("currency", ""))
    as_of = models_ui.read_payload(saved, "customer_value_params")["params"]["scored_as_of"]
    st.caption(f"{scores.height:,} customers scored as of {as_of} (the day after the last purchase the model saw). "
               "Churn: no purchase in the next 90 days. Value: expected spend on goods, after discounts, before "
               f"shipping, in {currency}; ranges are 80% intervals.")
    cols = st.columns(4)
    cols[0].metric("Customers likely to leave", f"{int((scores['churn_90'] >= 0.5).sum()):,}",
                   help="Chance of no purchase in the next 90 days of 50% or more.")
    for col, days in zip(cols[1:], (90, 180, 365)):
        col.metric(f"Expected spend, next {days} days", f"{currency} {scores[f'clv_{days}'].sum():,.0f}",
                   help="Sum over all scored customers.")
    left, right = st.columns(2)
    with left:
        widgets.render_figure(build_churn_figure(scores), "cv_churn")
    with right:
        widgets.render_figure(build_value_figure(scores, currency), "cv_value")
    bands = compute_churn_bands(scores)
    st.dataframe(bands.rename({"band": "Chance of no purchase in 90 days", "customers": "Customers",
                               "value_180": f"Expected spend, next 180 days ({currency})"}),
                 hide_index=True, key="cv_bands")
    models_ui.render_model_card(saved, ctx.data_version)
