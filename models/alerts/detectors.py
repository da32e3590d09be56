"""PyOD on the vector of metrics per period: combined oddities that no single series shows.

Each period of a merchant's history becomes a vector of standardised residuals of its total series (orders,
revenue per order, conversion, decline rate), (observed - expected) / sqrt(expected). PyOD's ECOD (parameter
free, empirical tail probabilities per feature, combined) is fitted on the history before ``since``; a period in
``[since, until)`` scoring above every training period by ``MARGIN`` and not already flagged by a single series
becomes a ``combined`` anomaly on orders (total). ECOD on a few thousand x 4 takes milliseconds, so it is fitted
per check rather than saved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from models.alerts.detection import Frames
from models.alerts.incidents import Anomaly

MARGIN = 1.15
MIN_TRAINING = 24 * 14


def residual_matrix(frames: Frames) -> pl.DataFrame:
    """ts plus one standardised residual column per metric (nan-free; periods without expectation dropped)."""
    o = frames.get("orders", "total").select("ts", "n", "e_n", "amount", "m1")
    s = frames.get("sessions", "total").select("ts", pl.col("n").alias("s_n"), pl.col("k").alias("s_k"),
                                               pl.col("rate").alias("s_rate"))
    p = frames.get("payments", "total").select("ts", pl.col("n").alias("p_n"), pl.col("k").alias("p_k"),
                                               pl.col("rate").alias("p_rate"))
    f = o.join(s, on="ts", how="left").join(p, on="ts", how="left").drop_nulls(["e_n", "m1"])
    f = f.fill_null(0.0).filter(pl.col("e_n") > 0)
    eps = 1e-6
    return f.select(
        "ts", "e_n",
        ((pl.col("n") - pl.col("e_n")) / pl.col("e_n").sqrt()).alias("orders"),
        ((pl.col("amount") - pl.col("n") * pl.col("m1")) / ((pl.col("n") + 1).sqrt() * (pl.col("m1") + eps)))
        .alias("order_value"),
        ((pl.col("s_k") - pl.col("s_n") * pl.col("s_rate")) / (pl.col("s_n") * pl.col("s_rate") + 1).sqrt())
        .alias("conversion"),
        ((pl.col("p_k") - pl.col("p_n") * pl.col("p_rate")) / (pl.col("p_n") * pl.col("p_rate") + 1).sqrt())
        .alias("declines")).fill_nan(0.0)


def combined_anomalies(frames: Frames, flagged: Sequence[Anomaly], min_volume: float = 5.0) -> list[Anomaly]:
    if frames.grain != "hour":
        return []
    from pyod.models.ecod import ECOD

    m = residual_matrix(frames)
    cols = ["orders", "order_value", "conversion", "declines"]
    train = m.filter(pl.col("ts") < frames.since)
    test = m.filter(pl.col("ts") >= frames.since, pl.col("ts") < frames.until, pl.col("e_n") >= min_volume)
    if train.height < MIN_TRAINING or not test.height:
        return []
    model = ECOD().fit(train.select(cols).to_numpy())
    top = float(np.max(model.decision_scores_))
    scores = model.decision_function(test.select(cols).to_numpy())
    seen = {a.ts for a in flagged}
    out = []
    for ts, e_n, resid, score in zip(test["ts"], test["e_n"], test["orders"], scores):
        if score > top * MARGIN and ts not in seen:
            observed = float(e_n + resid * np.sqrt(e_n))
            out.append(Anomaly(frames.merchant_id, "orders", "total", None, ts, 1, observed, float(e_n),
                               float(e_n), float(e_n), float(score / top), float("nan"),
                               "drop" if resid < 0 else "spike", "hour"))
    return out
