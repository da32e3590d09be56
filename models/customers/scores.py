"""Scores for every customer as of a day, from the fitted models (no refit).

Columns (``SCORE_COLUMNS``): customer_id; churn_90 (probability of no purchase in the next 90 days);
repeat_90 (probability of at least one purchase in them: 1 - churn_90); expected_orders_90 (orders);
clv_90, clv_180, clv_365 (expected spend on goods in the next 90/180/365 days, merchant currency,
undiscounted) with clv_h_low and clv_h_high (the 80% interval). Each column comes from the model that won
its backtest (``train``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

import numpy as np
import polars as pl
import xgboost as xgb

from data.access import DataAccess
from models.customers import features, train, warehouse
from models.customers.baseline import Baseline

VALUE_HORIZONS = (90, 180, 365)
SCORE_COLUMNS = ("customer_id", "churn_90", "repeat_90", "expected_orders_90",
                 *(f"clv_{h}" for h in VALUE_HORIZONS),
                 *(f"clv_{h}_{side}" for h in VALUE_HORIZONS for side in ("low", "high")))
SCORE_SCHEMA = {name: (pl.Int64 if name == "customer_id" else pl.Float64) for name in SCORE_COLUMNS}


def empty_scores() -> pl.DataFrame:
    return pl.DataFrame(schema=SCORE_SCHEMA)


def load_booster(text: str, threads: int = 1) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(text.encode()))
    booster.set_param({"nthread": threads})
    return booster


def prediction_threads() -> int:
    """Two XGBoost threads only on an idle machine: on a loaded 2-core machine two threads spin-wait and run
    slower than one (see ``train.XGB_PARAMS``)."""
    cores = os.cpu_count() or 1
    return min(2, cores) if os.getloadavg()[0] < max(cores - 1, 1) * 0.5 else 1


def compute_scores(purchases: pl.DataFrame, as_of: dt.date, boosters: dict[str, str], choices: dict[str, str],
                   intervals: dict[str, dict], baseline: Baseline) -> pl.DataFrame:
    """``SCORE_COLUMNS`` for every customer with a purchase before ``as_of`` (see module doc), from purchases
    in memory (training has them already)."""
    inputs = train.compute_inputs(purchases, as_of)
    return _predict(inputs, lambda: features.compute_summary(purchases, as_of), boosters, choices, intervals, baseline)


def compute_scores_in_warehouse(access: DataAccess, as_of: dt.date, boosters: dict[str, str],
                                choices: dict[str, str], intervals: dict[str, dict],
                                baseline: Baseline) -> pl.DataFrame:
    """The same scores with the features aggregated in the warehouse (``warehouse.compute_inputs``): a rescore
    reads one row per customer, not every purchase."""
    feats = warehouse.compute_features(access, as_of)
    return _predict(train.add_season(feats, as_of), lambda: warehouse.compute_summary(access, as_of), boosters,
                    choices, intervals, baseline)


def _predict(inputs: pl.DataFrame, summary: Callable[[], pl.DataFrame], boosters: dict[str, str],
             choices: dict[str, str], intervals: dict[str, dict], baseline: Baseline) -> pl.DataFrame:
    if inputs.height == 0:
        return empty_scores()
    # Contiguous float32 matrices (what XGBoost works in) predicted in place: no DMatrix copy per model. Rows
    # with a missing feature (one-time buyers have no gaps) go apart: XGBoost predicts the complete rows on
    # its faster dense path (about a fifth less time in all; each row's prediction is the same).
    x = inputs.select(train.INPUTS).to_numpy().astype(np.float32)
    gaps = np.isnan(x).any(axis=1)
    parts = [(rows, np.ascontiguousarray(x[rows])) for rows in (~gaps, gaps) if rows.any()]
    threads = prediction_threads()
    base = None
    cols: dict[str, np.ndarray] = {}
    for target in train.TARGETS:
        if choices.get(target.name) == "xgboost":
            booster, pred = load_booster(boosters[target.name], threads), np.empty(len(x))
            for rows, part in parts:
                pred[rows] = booster.inplace_predict(part)
            cols[target.name] = pred
            continue
        if base is None:  # only when the baseline won somewhere: its hypergeometric terms cost seconds at 1M
            base = inputs.select("customer_id").join(baseline.predict(summary(), train.HORIZONS), on="customer_id",
                                                     how="left")
        cols[target.name] = base[target.name].to_numpy().astype(float)
    out = {"customer_id": inputs["customer_id"], "churn_90": cols["churn_90"], "repeat_90": 1.0 - cols["churn_90"],
           "expected_orders_90": cols["expected_orders_90"]}
    for h in VALUE_HORIZONS:
        pred = np.maximum(cols[f"clv_{h}"], 0.0)
        low, high = train.apply_interval(intervals[f"clv_{h}"], pred)
        out.update({f"clv_{h}": pred, f"clv_{h}_low": np.maximum(low, 0.0), f"clv_{h}_high": high})
    return pl.DataFrame(out).select([pl.col(c).cast(t) for c, t in SCORE_SCHEMA.items()])
