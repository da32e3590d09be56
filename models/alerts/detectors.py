"""PyOD on the vector of metrics per period: combined oddities that no single series shows.

Each period of a merchant's history becomes a vector of standardised residuals of its total series (orders,
revenue per order, conversion, decline rate), (observed - expected) / sqrt(expected). PyOD's ECOD (parameter
free, empirical tail probabilities per feature, combined) is fitted on the history before ``since``; a period in
``[since, until)`` scoring above every training period by ``MARGIN`` and not already flagged by a single series
becomes an anomaly on orders (total) whose member list says it came from the combined detector (window 0).

The kind ``anomaly_detector`` (model layer: saved, versioned, signed, with a model card) keeps the training
vectors of the last ``TRAIN_DAYS`` days; ``find_incidents(detector=payload)`` scores against them. Without a
saved model the check fits ECOD on the history it has read (milliseconds for a few thousand x 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import datetime as dt
import io
import json

import numpy as np
import polars as pl

from data.access import DataAccess
from models.alerts.detection import Frames
from models.alerts.incidents import Anomaly
from models.registry import Fitted, ModelKind, Progress, register

KEY = "anomaly_detector"
COLUMNS = ("orders", "order_value", "conversion", "declines")
TRAIN_DAYS = 56

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


def to_payload(training: np.ndarray, window: tuple[str, str]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(training, dtype=np.float64), allow_pickle=False)
    head = json.dumps({"columns": list(COLUMNS), "window": list(window)}).encode()
    return len(head).to_bytes(4, "big") + head + buf.getvalue()


def load_training(payload: bytes) -> np.ndarray:
    """The saved training vectors (rows x COLUMNS); refuses a payload of other columns."""
    try:
        n = int.from_bytes(payload[:4], "big")
        head = json.loads(payload[4:4 + n])
        matrix = np.load(io.BytesIO(payload[4 + n:]), allow_pickle=False)
    except (ValueError, json.JSONDecodeError, OSError) as exc:
        raise ValueError(f"not an anomaly_detector payload ({exc}); retrain it") from None
    if tuple(head.get("columns", ())) != COLUMNS or matrix.ndim != 2 or matrix.shape[1] != len(COLUMNS):
        raise ValueError("the saved anomaly detector was trained on other metrics; retrain it "
                         "(python -m models train --kind anomaly_detector)")
    return matrix


def combined_anomalies(frames: Frames, flagged: Sequence[Anomaly], min_volume: float = 5.0,
                       detector: bytes | None = None) -> list[Anomaly]:
    if frames.grain != "hour":
        return []
    from pyod.models.ecod import ECOD

    m = residual_matrix(frames)
    cols = list(COLUMNS)
    test = m.filter(pl.col("ts") >= frames.since, pl.col("ts") < frames.until, pl.col("e_n") >= min_volume)
    training = (load_training(detector) if detector is not None
                else m.filter(pl.col("ts") < frames.since).select(cols).to_numpy())
    if len(training) < MIN_TRAINING or not test.height:
        return []
    model = ECOD().fit(training)
    top = float(np.max(model.decision_scores_))
    scores = model.decision_function(test.select(cols).to_numpy())
    seen = {a.ts for a in flagged}
    out = []
    for ts, e_n, resid, score in zip(test["ts"], test["e_n"], test["orders"], scores):
        if score > top * MARGIN and ts not in seen:
            observed = float(e_n + resid * np.sqrt(e_n))
            out.append(Anomaly(frames.merchant_id, "orders", "total", None, ts, 0, observed, float(e_n),
                               float(e_n), float(e_n), float(score / top), float("nan"),
                               "drop" if resid < 0 else "spike", "hour"))
    return out


def fit(access: DataAccess, progress: Progress) -> Fitted:
    """Training vectors of the last TRAIN_DAYS days of the (single) merchant in the access' scope."""
    ids = sorted(access.scope.merchant_ids or ())
    if len(ids) != 1:
        raise ValueError("an anomaly detector is trained for one merchant at a time")
    o = access.table("orders")
    last = access.scalar(o.filter(o.merchant_id == ids[0]).order_ts.max())
    if last is None:
        raise ValueError(f"merchant {ids[0]} has no orders to train an anomaly detector on")
    until = dt.datetime.combine(last.date(), dt.time())
    since = until - dt.timedelta(days=TRAIN_DAYS)
    progress(0.2, "Reading hourly orders, sessions and payments")
    frames = Frames(access, ids[0], since, until, "hour")
    m = residual_matrix(frames).filter(pl.col("ts") >= since)
    training = m.select(list(COLUMNS)).to_numpy()
    progress(0.8, "Fitting ECOD")
    from pyod.models.ecod import ECOD

    scores = ECOD().fit(training).decision_scores_ if len(training) else np.zeros(0)
    window = (since.date().isoformat(), (until - dt.timedelta(days=1)).date().isoformat())
    return Fitted(payload=to_payload(training, window), params={"detector": "ECOD", "margin": MARGIN,
                                                                 "columns": list(COLUMNS), "days": TRAIN_DAYS},
                  window=window, metrics={"hours": int(len(training)),
                                          "top_training_score": float(scores.max()) if len(scores) else 0.0},
                  rows=int(len(training)),
                  notes=("An hour alerts as a combined oddity when its ECOD score passes every training hour's "
                         f"by {MARGIN - 1:.0%} and no single series flagged it.",))


KIND = register(ModelKind(
    key=KEY,
    title="Anomaly detector",
    description=("Learns what an ordinary hour looks like across several metrics at once (orders against their "
                 "expected value, order value, conversion, payment declines) with PyOD's ECOD, so an hour that is "
                 "odd in its combination, though no single metric crossed its band, raises an alert."),
    libraries=("pyod", "numpy", "polars"),
    fit=fit,
))
