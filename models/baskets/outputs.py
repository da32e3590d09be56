"""The ``basket_rules`` kind: association rules, "bought together" and the customer recommender of one merchant.

Training (``fit``) reads every non-cancelled sale basket of the merchant (``analytics.baskets``), mines the
rules (``mining``), backtests the recommender on the last month (``recommend.backtest``) and learns it on every
day. It takes seconds at a large shop, so pages never do it: the model layer trains it in the background and
pages read the saved payload.

Payload: a zip of ``rules.parquet`` (``mining.RULE_COLUMNS``), ``neighbours.parquet`` and ``popularity.parquet``
(``recommend.Recommender``) and ``params.json`` (as-of day, personal weight, thresholds, basket counts).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import polars as pl

from analytics.baskets import load_basket_lines
from data.access import DataAccess
from models.baskets import mining, recommend
from models.registry import Fitted, ModelKind, Progress, register

KEY = "basket_rules"


class NoBaskets(ValueError):
    """The merchant has no sale baskets to learn from."""


def to_payload(rules: pl.DataFrame, model: recommend.Recommender, params: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, frame in (("rules", rules), ("neighbours", model.neighbours), ("popularity", model.popularity)):
            part = io.BytesIO()
            frame.write_parquet(part)
            z.writestr(f"{name}.parquet", part.getvalue())
        z.writestr("params.json", json.dumps({**params, "as_of": model.as_of.isoformat(),
                                              "personal_weight": model.personal_weight}))
    return buf.getvalue()


def _read(payload: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            return z.read(name)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"not a basket_rules model payload ({name}: {exc}); retrain the model") from None


def load_params(payload: bytes) -> dict:
    """as_of (ISO day), personal_weight, min_support, min_confidence, max_basket_items, baskets, skipped_baskets."""
    return json.loads(_read(payload, "params.json"))


def load_rules(payload: bytes) -> pl.DataFrame:
    """The association rules (columns: ``mining.compute_rules``), by lift."""
    return pl.read_parquet(io.BytesIO(_read(payload, "rules.parquet")))


def load_recommender(payload: bytes) -> recommend.Recommender:
    p = load_params(payload)
    return recommend.Recommender(
        dt.date.fromisoformat(p["as_of"]), pl.read_parquet(io.BytesIO(_read(payload, "neighbours.parquet"))),
        pl.read_parquet(io.BytesIO(_read(payload, "popularity.parquet"))), float(p["personal_weight"]))


def fit(access: DataAccess, progress: Progress) -> Fitted:
    progress(0.05, "Reading the baskets")
    lines = load_basket_lines(access)
    if lines.height == 0:
        raise NoBaskets("no sale baskets in scope: import orders with their lines first")
    progress(0.3, "Mining the association rules (FP-growth)")
    rules, counts, support = mining.mine(lines)
    progress(0.55, "Backtesting the suggestions on the last month")
    test = recommend.backtest(lines)
    progress(0.85, "Learning what is bought together")
    model = recommend.fit_recommender(lines, personal_weight=float(test["personal_weight"]))
    params = {"min_support": round(support, 6), "min_confidence": mining.MIN_CONFIDENCE,
              "max_basket_items": mining.MAX_BASKET_ITEMS, "max_itemset": mining.MAX_ITEMSET,
              "baskets": counts.baskets, "skipped_baskets": counts.skipped,
              "personal_weight": float(test["personal_weight"])}
    metrics = {"rules": rules.height, "baskets_mined": counts.baskets,
               "baskets_over_the_cap_skipped": counts.skipped,
               "lines_in_skipped_baskets": round(counts.skipped_line_share, 4),
               "customers_scored_in_holdout": test["customers"],
               f"hit_rate_at_{test['k']}": _round(test["hit_rate"]),
               f"popularity_hit_rate_at_{test['k']}": _round(test["baseline_hit_rate"]),
               f"recent_sales_rate_hit_rate_at_{test['k']}": _round(test["recent_popularity_hit_rate"])}
    notes = (f"Baskets with more than {mining.MAX_BASKET_ITEMS} different products (wholesale orders) are skipped "
             f"whole, not cut short: {counts.skipped:,} of {counts.baskets + counts.skipped:,} baskets this time.",
             f"A rule needs its products together in at least {support:.2%} of baskets "
             f"({max(1, round(support * counts.baskets)):,} baskets) and a confidence of at least "
             f"{mining.MIN_CONFIDENCE:.0%}.",
             f"Suggestions were backtested on the {test['holdout_days']} days after {test['cutoff']}: hit rate at "
             f"{test['k']} is the share of customers who bought at least one of their {test['k']} suggestions then. "
             "The popularity baseline suggests the products in most baskets to everyone.",
             f"Weight of co-purchases and the customer's own history against recent sales: "
             f"{test['personal_weight']:g} (chosen on the month before the holdout among "
             f"{', '.join(f'{w:g}' for w in recommend.WEIGHTS)}; 0 means they did not help there).")
    window = (lines["day"].min().isoformat(), lines["day"].max().isoformat())
    return Fitted(payload=to_payload(rules, model, params), params=params, window=window, metrics=metrics,
                  rows=lines.height, notes=notes)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


KIND = register(ModelKind(
    key=KEY,
    title="Baskets",
    description=("Association rules between products bought in the same basket, found by FP-growth (mlxtend) "
                 "on a sparse basket-by-product matrix: support, confidence and lift of each rule. The same "
                 "baskets give \"bought together\" for every product, and suggestions for each customer from "
                 "what sells now, what goes with what they bought and what they buy again, backtested on the "
                 "last month against suggesting the most popular products to everyone."),
    libraries=("mlxtend", "polars", "pandas", "scipy"),
    fit=fit,
))
