"""Scores for every customer as of a day, from the fitted models (no refit).

Columns (``SCORE_COLUMNS``): customer_id; churn_90 (probability of no purchase in the next 90 days);
repeat_90 (probability of at least one purchase in them: 1 - churn_90); expected_orders_90 (orders);
clv_90, clv_180, clv_365 (expected spend on goods in the next 90/180/365 days, merchant currency,
undiscounted) with clv_h_low and clv_h_high (the 80% interval). Each column comes from the model that won
its backtest (``train``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import xgboost as xgb

from models.customers import features, train
from models.customers.baseline import Baseline

VALUE_HORIZONS = (90, 180, 365)
SCORE_COLUMNS = ("customer_id", "churn_90", "repeat_90", "expected_orders_90",
                 *(f"clv_{h}" for h in VALUE_HORIZONS),
                 *(f"clv_{h}_{side}" for h in VALUE_HORIZONS for side in ("low", "high")))
SCORE_SCHEMA = {name: (pl.Int64 if name == "customer_id" else pl.Float64) for name in SCORE_COLUMNS}


def empty_scores() -> pl.DataFrame:
    return pl.DataFrame(schema=SCORE_SCHEMA)


def load_booster(text: str) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(text.encode()))
    booster.set_param({"nthread": 1})
    return booster


def compute_scores(purchases: pl.DataFrame, as_of: dt.date, boosters: dict[str, str], choices: dict[str, str],
                   intervals: dict[str, dict], baseline: Baseline) -> pl.DataFrame:
    """``SCORE_COLUMNS`` for every customer with a purchase before ``as_of`` (see module doc)."""
    inputs = train.compute_inputs(purchases, as_of)
    if inputs.height == 0:
        return empty_scores()
    dm = train.matrix(inputs)
    base = None
    cols: dict[str, np.ndarray] = {}
    for target in train.TARGETS:
        if choices.get(target.name) == "xgboost":
            cols[target.name] = load_booster(boosters[target.name]).predict(dm).astype(float)
            continue
        if base is None:  # only when the baseline won somewhere: its hypergeometric terms cost seconds at 1M
            base = inputs.select("customer_id").join(
                baseline.predict(features.compute_summary(purchases, as_of), train.HORIZONS), on="customer_id",
                how="left")
        cols[target.name] = base[target.name].to_numpy().astype(float)
    out = {"customer_id": inputs["customer_id"], "churn_90": cols["churn_90"], "repeat_90": 1.0 - cols["churn_90"],
           "expected_orders_90": cols["expected_orders_90"]}
    for h in VALUE_HORIZONS:
        pred = np.maximum(cols[f"clv_{h}"], 0.0)
        low, high = train.apply_interval(intervals[f"clv_{h}"], pred)
        out.update({f"clv_{h}": pred, f"clv_{h}_low": np.maximum(low, 0.0), f"clv_{h}_high": high})
    return pl.DataFrame(out).select([pl.col(c).cast(t) for c, t in SCORE_SCHEMA.items()])
