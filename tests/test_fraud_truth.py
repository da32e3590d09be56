"""The fraud model against the planted truth of the demo warehouse (seed 42).

Each merchant's model is trained as the product trains it: on the early matured months (chargebacks as labels),
calibrated on the next slice, and tested here on the last matured months against ``truth.fraud`` (what was
planted, read with a plain DuckDB connection: data.access refuses the truth schema). A peer on the same data
and the same features, a plain scikit-learn logistic regression, and the PyOD detector alone are printed beside.
"""

from __future__ import annotations

import duckdb
import ibis
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data.access import DataAccess, Scope
from models.fraud import outputs, train
from models.fraud.features import compute_features

PATTERNS = ("velocity", "country_mismatch", "new_account", "unusual_amount", "card_testing")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_out(demo_warehouse):
    """Validation payments of every merchant with truth, score, probability, anomaly, the threshold and the
    logistic-regression peer's probability."""
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
        truth = pl.from_arrow(con.sql("SELECT payment_id, pattern FROM truth.fraud").to_arrow_table())
        parts = []
        for m in merchants:
            access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
            features = compute_features(access)
            chargebacks = access.to_polars(access.table("payments").select("payment_id", "chargeback",
                                                                            "chargeback_date"))
            trained = outputs.train_from_features(features, chargebacks, window_days=90)
            model = outputs.load_model(trained.payload)
            val = trained.validation
            scored = train.predict(model, train.matrix(val))
            peer = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
            peer.fit(train.matrix(trained.train), trained.train["label"].to_numpy())
            parts.append(val.with_columns(anomaly=pl.Series(scored["anomaly"]),
                                          peer=pl.Series(peer.predict_proba(train.matrix(val))[:, 1]),
                                          threshold=pl.lit(model.threshold)))
    finally:
        con.close()
    frame = pl.concat(parts).join(truth, on="payment_id", how="left")
    return frame.with_columns(fraud=pl.col("pattern").is_not_null(), flagged=pl.col("score") >= pl.col("threshold"))


def test_held_out_months_are_later_than_training_and_matured(held_out, demo_warehouse):
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        newest = con.execute("SELECT max(paid_ts) FROM payments").fetchone()[0]
    assert held_out["paid_ts"].max() <= newest - np.timedelta64(90, "D")
    assert "declined" not in held_out["status"].to_list()


def test_pr_auc_per_pattern_recall_and_calibration_against_the_planted_truth(held_out):
    y = held_out["fraud"].to_numpy()
    pr_auc = average_precision_score(y, held_out["score"].to_numpy())
    peer_auc = average_precision_score(y, held_out["peer"].to_numpy())
    pyod_auc = average_precision_score(y, held_out["anomaly"].to_numpy())
    prob_auc = average_precision_score(y, held_out["probability"].to_numpy())
    brier = brier_score_loss(y, held_out["probability"].to_numpy())
    base = y.mean() * (1 - y.mean())
    recall = (held_out.filter(pl.col("fraud")).group_by("pattern")
              .agg(pl.len().alias("planted"), pl.col("flagged").mean().alias("recall")).sort("pattern"))
    flagged = held_out.filter(pl.col("flagged"))
    print(f"\nheld-out payments {held_out.height:,}, planted fraud {int(y.sum())}, flagged {flagged.height}, "
          f"precision {flagged['fraud'].mean():.3f}")
    print(f"PR-AUC: blended score {pr_auc:.3f} (classifier's probability alone {prob_auc:.3f}); peers on the same data: logistic regression {peer_auc:.3f}, "
          f"PyOD Isolation Forest alone {pyod_auc:.3f}")
    print(f"Brier {brier:.5f} vs base rate {base:.5f}")
    print(recall)
    assert pr_auc >= 0.80
    assert brier < base
    assert set(recall["pattern"]) == set(PATTERNS)
    for row in recall.iter_rows(named=True):
        assert row["recall"] >= 0.6, row
