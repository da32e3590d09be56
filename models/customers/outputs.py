"""The ``customer_value`` kind: churn, repeat purchase and lifetime value per customer, and its payload readers.

Payload: a zip holding ``params.json`` (status, the shortfall when there is too little data, the backtest
choices, interval bins, BG/NBD + Gamma-Gamma parameters, metrics), one XGBoost JSON per target under
``models/`` (no pickle), ``scores.parquet`` (every customer scored as of the day after the last purchase)
and ``validation.parquet`` (the backtest's held-out customers, for the card's charts).

Readers (no refit, no data read):
- ``load_scores(payload)``: ``scores.SCORE_COLUMNS`` (see ``models.customers.scores``); empty with the same
  columns when there was too little data.
- ``load_shortfall(payload)``: the ``readiness.Shortfall`` (reason, message, customers, repeat buyers,
  history days), or None when the model was trained.
- ``load_params(payload)``: the JSON above.
- ``load_validation(payload)``: target, customer_id, actual, xgboost, bgnbd.
``rescore(access, payload)`` scores the customers again on the data as it is now with the saved models.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import polars as pl

from data.access import DataAccess
from models.customers import features, scores, train, warehouse
from models.customers.baseline import Baseline
from models.customers.btyd import BetaGeo, GammaGamma
from models.customers.readiness import Shortfall
from models.registry import Fitted, ModelKind, Progress, register

KEY = "customer_value"
TRAINED, SHORT = "trained", "not_enough_data"


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def to_payload(params: dict, boosters: dict[str, str], scored: pl.DataFrame, validation: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("params.json", json.dumps(params))
        for name, text in boosters.items():
            z.writestr(f"models/{name}.json", text)
        z.writestr("scores.parquet", _parquet(scored))
        z.writestr("validation.parquet", _parquet(validation))
    return buf.getvalue()


def _read(payload: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            return z.read(name)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"not a customer_value model payload ({name}: {exc}); retrain the model") from None


def load_params(payload: bytes) -> dict:
    return json.loads(_read(payload, "params.json"))


def load_scores(payload: bytes) -> pl.DataFrame:
    """Every scored customer (``scores.SCORE_COLUMNS``; money in the merchant's currency)."""
    return pl.read_parquet(io.BytesIO(_read(payload, "scores.parquet"))).select(scores.SCORE_COLUMNS)


def load_shortfall(payload: bytes) -> Shortfall | None:
    """Why no model was trained (too little data), or None."""
    p = load_params(payload)
    return Shortfall(**p["shortfall"]) if p.get("status") == SHORT else None


def load_validation(payload: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(_read(payload, "validation.parquet")))


def _baseline(p: dict) -> Baseline:
    b = p["baseline"]
    return Baseline(BetaGeo(**b["bgnbd"]), GammaGamma(**b["gamma_gamma"]))


def rescore(access: DataAccess, payload: bytes, as_of: dt.date | None = None) -> pl.DataFrame:
    """Scores of the customers in scope as of ``as_of`` (default: the day after the last purchase)."""
    p = load_params(payload)
    if p.get("status") != TRAINED:
        return scores.empty_scores()
    last = warehouse.last_day(access, as_of)
    if last is None:
        return scores.empty_scores()
    as_of = as_of or last + dt.timedelta(days=1)
    boosters = {name: _read(payload, f"models/{name}.json").decode() for name, c in p["choices"].items()
                if c == "xgboost"}
    return scores.compute_scores_in_warehouse(access, as_of, boosters, p["choices"], p["intervals"], _baseline(p))


def _winner_notes(metrics: dict, currency: str) -> list[str]:
    """Which model won each backtest, and by how much, in words."""
    out = []
    churn = metrics.get("churn_90")
    if churn:
        name = "XGBoost" if churn["winner"] == "xgboost" else "BG/NBD"
        out.append(f"Churn in 90 days: {name} won the backtest, AUC {churn['xgboost']:.3f} for XGBoost against "
                   f"{churn['bgnbd']:.3f} for BG/NBD ({churn['xgboost'] - churn['bgnbd']:+.3f}).")
    for h in scores.VALUE_HORIZONS:
        m = metrics.get(f"clv_{h}")
        if not m:
            continue
        name = "XGBoost" if m["winner"] == "xgboost" else "BG/NBD + Gamma-Gamma"
        gain = (m["bgnbd"] - m["xgboost"]) / m["bgnbd"] if m["bgnbd"] else 0.0
        out.append(f"Value over {h} days: {name} won the backtest, mean absolute error {m['xgboost']:,.2f} {currency} "
                   f"for XGBoost against {m['bgnbd']:,.2f} {currency} for BG/NBD + Gamma-Gamma "
                   f"({abs(gain):.0%} {'lower' if gain >= 0 else 'higher'} for XGBoost).")
    return out


TARGET_WORDS = {"churn_90": "Churn in 90 days", "expected_orders_90": "Orders in 90 days",
                "clv_90": "Value over 90 days", "clv_180": "Value over 180 days", "clv_365": "Value over 365 days"}


def card_metrics(metrics: dict) -> dict:
    """The backtest figures under the card's words (models.card.METRIC_WORDS): AUC for churn, mean absolute
    error for the rest, per model, the winner and the value targets' totals and interval coverage."""
    out = {}
    for name, m in metrics.items():
        measure = "auc" if name == "churn_90" else "mae"
        row = {f"{measure}_xgboost": m["xgboost"], f"{measure}_bgnbd": m["bgnbd"],
               "winner": "XGBoost" if m["winner"] == "xgboost" else "BG/NBD",
               "validation_cutoff": m["validation_cutoff"], "validation_customers": m["validation_customers"],
               "validation_split": "later period" if m["split"] == "time" else "held-out customers"}
        for key in ("actual_total", "predicted_total", "interval_coverage"):
            if key in m:
                row[key] = m[key]
        out[TARGET_WORDS.get(name, name)] = row
    return out


PARAM_WORDS = {
    "step_days": "Days between backtest cutoffs", "min_history_days": "Days of history needed before a cutoff",
    "trees": "Trees per XGBoost model", "depth": "Depth of each tree",
    "scored_as_of": "Customers scored as of (the day after the last purchase)",
    "bgnbd_r": "BG/NBD r (shape of the purchase rate)",
    "bgnbd_alpha": "BG/NBD alpha (scale of the purchase rate, weeks)",
    "bgnbd_a": "BG/NBD a (drop-out after a purchase)", "bgnbd_b": "BG/NBD b (drop-out after a purchase)",
    "gamma_gamma_p": "Gamma-Gamma p (shape of the spend per purchase)", "gamma_gamma_q": "Gamma-Gamma q (shape of the "
    "spend across customers)", "gamma_gamma_gamma": "Gamma-Gamma gamma (scale of the spend, money)",
    **{f"model_{k}": f"Model for {v.lower()}" for k, v in TARGET_WORDS.items()},
}
MODEL_WORDS = {"xgboost": "XGBoost", "bgnbd": "BG/NBD + Gamma-Gamma"}


def card_params(params: dict) -> dict:
    """The settings and fitted parameters under words for the card (the payload keeps the plain keys)."""
    return {PARAM_WORDS.get(k, k): MODEL_WORDS.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


def _currency(access: DataAccess) -> str:
    m = access.to_polars(access.table("merchants").select("currency"))
    return str(m["currency"][0]) if m.height else ""


def fit(access: DataAccess, progress: Progress) -> Fitted:
    progress(0.02, "Reading purchases")
    purchases = features.load_purchases(access)
    currency = _currency(access)
    result = train.train_customer_value(purchases, progress)
    if isinstance(result, Shortfall):
        params = {"status": SHORT, "shortfall": result.to_dict(), "currency": currency}
        payload = to_payload(params, {}, scores.empty_scores(), pl.DataFrame())
        return Fitted(payload=payload, params={"status": "too little data"}, window=None,
                      metrics={"customers": result.customers, "repeat_buyers": result.repeat_buyers,
                               "history_days": result.history_days}, rows=purchases.height,
                      notes=(result.message,))
    progress(0.92, "Scoring every customer")
    as_of = dt.date.fromisoformat(result.params["scored_as_of"])
    scored = scores.compute_scores(purchases, as_of, result.boosters, result.choices, result.intervals, result.baseline)
    validation = pl.concat([v.with_columns(pl.lit(name).alias("target")) for name, v in result.validation.items()])
    params = {"status": TRAINED, "currency": currency, "choices": result.choices, "intervals": result.intervals,
              "baseline": {"bgnbd": vars(result.baseline.purchases), "gamma_gamma": vars(result.baseline.spend)},
              "params": result.params, "metrics": result.metrics}
    payload = to_payload(params, result.boosters, scored, validation)
    notes = tuple(_winner_notes(result.metrics, currency) + result.notes + [
        "Churn: no purchase in the 90 days after the cutoff; a repeat purchase is its opposite. Values are spend "
        f"on goods ({currency}, after discounts, before shipping; returned orders count as no spend), not "
        "discounted. A value's 80% interval is the estimate plus or minus the error within which 80% of backtest "
        "customers with a similar estimate fell (never below 0); many spend nothing, so it often starts at 0."])
    return Fitted(payload=payload, params=card_params(result.params), window=result.window,
                  metrics=card_metrics(result.metrics),
                  rows=result.rows, notes=notes)


KIND = register(ModelKind(
    key=KEY,
    title="Customer value",
    description=("For every customer: the probability of no purchase in the next 90 days (churn) and of a repeat "
                 "purchase, the expected orders in 90 days, and the expected spend (lifetime value) over 90, 180 "
                 "and 365 days with 80% intervals. Two models compete on a time-split backtest: BG/NBD with "
                 "Gamma-Gamma (a probabilistic model of buying, dropping out and spending, fitted by maximum "
                 "likelihood) and XGBoost on features at a cutoff (recency, frequency, spend, gaps between "
                 "purchases, trends, channels, discounts, returns); each output comes from the winner. Shops "
                 "with too few repeat buyers get no model, and the page says why."),
    libraries=("xgboost-cpu", "scipy", "scikit-learn", "polars", "numpy"),
    fit=fit,
))
