"""The interpretable baseline: BG/NBD for when and whether a customer buys again, Gamma-Gamma for how much.

Fitted on the summary at a cutoff (``features.compute_summary``, weeks); predictions for h days after it:
churn_90 = P(no purchase in the next 90 days), expected_orders_h = E[purchase days in h], clv_h =
E[purchase days in h] x E[spend per purchase day] (merchant currency, undiscounted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from models.customers.btyd import BetaGeo, GammaGamma


@dataclass(frozen=True)
class Baseline:
    purchases: BetaGeo
    spend: GammaGamma

    @classmethod
    def fit(cls, summary: pl.DataFrame) -> Baseline:
        bg = BetaGeo.fit(summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy())
        return cls(bg, GammaGamma.fit(summary["frequency"].to_numpy(), summary["monetary"].to_numpy()))

    def params(self) -> dict[str, float]:
        """The seven fitted parameters, named as in the papers (alpha in weeks, gamma in money)."""
        return {**{f"bgnbd_{k}": round(v, 6) for k, v in asdict(self.purchases).items()},
                **{f"gamma_gamma_{k}": round(v, 6) for k, v in asdict(self.spend).items()}}

    def predict(self, summary: pl.DataFrame, horizons: tuple[int, ...]) -> pl.DataFrame:
        """customer_id, p_alive, churn_90, and expected_orders_h and clv_h for each horizon h (days)."""
        x, t_x, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        spend = self.spend.expected_spend(x, summary["monetary"].to_numpy())
        alive = self.purchases.probability_alive(x, t_x, T)  # once: every prediction below weighs by it
        cols = {"customer_id": summary["customer_id"], "p_alive": alive,
                "churn_90": self.purchases.probability_no_purchase(90 / 7, x, t_x, T, alive)}
        for h in horizons:
            orders = self.purchases.expected_purchases(h / 7, x, t_x, T, alive)
            cols[f"expected_orders_{h}"] = orders
            cols[f"clv_{h}"] = orders * spend
        return pl.DataFrame({k: (v if isinstance(v, pl.Series) else np.asarray(v, dtype=float))
                             for k, v in cols.items()})
