"""The supplier, learned from a product's purchase-order history (there is no supplier column).

Two distributions per product, as probability vectors over whole days:

- lead time: received_date - ordered_date of its past received purchase orders (for an order placed today);
- lateness: received_date - expected_date (positive = late), for an open order whose promised date is known.

A product with few received orders tells little, so its empirical distribution is shrunk toward a prior
from its merchant's orders: weight n / (n + PRIOR_ORDERS) on its own n orders. Suppliers differ in scale
(4 days or 3 weeks), so the lead-time prior is the merchant's pooled *relative* lead times (each order's lead
over its product's median) times the product's median shrunk toward the merchant's (empirical Bayes on log
medians: little when suppliers differ much more than one supplier's orders do); the lateness prior is the
merchant's pooled lateness in days. Its own orders are spread over the neighbouring days (weights 1/4, 1/2,
1/4): a supplier that took 9 and 11 days may well take 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

MAX_LEAD = 120  # days; longer lead times count as 120
LATE_MIN, LATE_MAX = -30, 90  # days early (negative) or late, clipped to this range
PRIOR_ORDERS = 4.0  # a product's orders weigh n / (n + 4) against its merchant's pooled history
KERNEL = np.array([0.25, 0.5, 0.25])
RATIO_BINS = np.arange(0.0, 6.0001, 0.05)  # relative lead times (lead / product median) of the pooled prior


@dataclass
class SupplierModel:
    """Per product (rows in ``product_ids`` order): lead-time pmf over 0..MAX_LEAD days, lateness pmf over
    LATE_MIN..LATE_MAX days, and the figures shown: median lead days, its sd, mean days late observed
    (NaN when the product has no received order), and how many received orders taught it."""

    product_ids: np.ndarray
    lead_pmf: np.ndarray
    late_pmf: np.ndarray
    lead_median: np.ndarray
    lead_sd: np.ndarray
    late_mean: np.ndarray
    orders: np.ndarray


def _histograms(index: np.ndarray, values: np.ndarray, n_rows: int, n_bins: int) -> np.ndarray:
    out = np.zeros((n_rows, n_bins))
    np.add.at(out, (index, values), 1.0)
    return out


def _smooth(h: np.ndarray) -> np.ndarray:
    padded = np.pad(h, ((0, 0), (1, 1)))
    out = KERNEL[0] * padded[:, :-2] + KERNEL[1] * padded[:, 1:-1] + KERNEL[2] * padded[:, 2:]
    out[:, 0] += KERNEL[0] * h[:, 0]  # keep the mass that would fall off the ends
    out[:, -1] += KERNEL[2] * h[:, -1]
    return out


def _shrunk(own: np.ndarray, pooled: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """(own counts smoothed + PRIOR_ORDERS x pooled pmf) / (n + PRIOR_ORDERS); a merchant with no history
    at all gets ``fallback``."""
    n = own.sum(axis=1, keepdims=True)
    pooled = np.where(pooled.sum(axis=1, keepdims=True) > 0, pooled, fallback[None, :])
    return (_smooth(own) + PRIOR_ORDERS * pooled) / (n + PRIOR_ORDERS)


def _median(pmf: np.ndarray, offset: int) -> np.ndarray:
    return (np.argmax(np.cumsum(pmf, axis=1) >= 0.5, axis=1) + offset).astype(float)


def _scaled_prior(got: pl.DataFrame, rows: np.ndarray, lead_own: np.ndarray, m_idx: np.ndarray, n_merchants: int
                  ) -> np.ndarray:
    """Per product: the merchant's pooled lead / product-median ratios, scaled by the product's shrunk median."""
    n_prod, n_bins = lead_own.shape
    count = lead_own.sum(axis=1)
    own_med = np.where(count > 0, _median(lead_own / np.maximum(count, 1)[:, None], 0), np.nan)
    own_med = np.maximum(own_med, 1.0)
    ratio = got["lead"].to_numpy() / own_med[rows]
    r_bin = np.clip(np.round(ratio / RATIO_BINS[1]).astype(np.int64), 0, len(RATIO_BINS) - 1)
    hist = np.zeros((n_merchants, len(RATIO_BINS)))
    np.add.at(hist, (m_idx[rows], r_bin), 1.0)
    hist = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1.0)
    # each product's median shrunk toward its merchant's typical one (empirical Bayes on log medians):
    # own weight tau² / (tau² + sigma²/n), tau² the spread between products, sigma² the spread within one
    has = count > 0
    logs = np.log(np.where(has, own_med, 1.0))
    dev = np.log(np.maximum(got["lead"].to_numpy(), 1.0)) - logs[rows]
    sigma2 = np.zeros(n_merchants)
    tau2 = np.zeros(n_merchants)
    m_log = np.zeros(n_merchants)
    for m in range(n_merchants):
        mine = has & (m_idx == m)
        if not mine.any():
            continue
        d = dev[m_idx[rows] == m]
        sigma2[m] = (1.4826 * np.median(np.abs(d))) ** 2 if d.size else 0.0  # robust: late outliers aside
        m_log[m] = np.median(logs[mine])
        tau2[m] = max(np.var(logs[mine]) - np.mean(sigma2[m] / count[mine]), 1e-4)
    w = np.where(has, tau2[m_idx] / (tau2[m_idx] + sigma2[m_idx] / np.maximum(count, 1.0)), 0.0)
    scale = np.exp(w * logs + (1.0 - w) * m_log[m_idx])
    target = np.clip(np.round(RATIO_BINS[None, :] * scale[:, None]).astype(np.int64), 0, n_bins - 1)
    prior = np.zeros((n_prod, n_bins))
    np.add.at(prior, (np.repeat(np.arange(n_prod), len(RATIO_BINS)), target.ravel()), hist[m_idx].ravel())
    return prior


def learn_suppliers(orders: pl.DataFrame, products: pl.DataFrame) -> SupplierModel:
    """``orders``: load_purchase_orders frame; ``products``: product_id, merchant_id of every product to model."""
    products = products.select("product_id", "merchant_id").unique("product_id", maintain_order=True)
    pid = products["product_id"].to_numpy()
    got = orders.filter(pl.col("received_date").is_not_null()).join(products, on="product_id", how="inner")
    got = got.with_columns(
        (pl.col("received_date") - pl.col("ordered_date")).dt.total_days().clip(0, MAX_LEAD).alias("lead"),
        (pl.col("received_date") - pl.col("expected_date")).dt.total_days().alias("late_raw"))
    row = pl.DataFrame({"product_id": pid, "_row": np.arange(len(pid))})
    got = got.join(row, on="product_id")
    rows = got["_row"].to_numpy()
    n_lead, n_late = MAX_LEAD + 1, LATE_MAX - LATE_MIN + 1
    lead_own = _histograms(rows, got["lead"].to_numpy(), len(pid), n_lead)
    late_own = _histograms(rows, np.clip(got["late_raw"].to_numpy(), LATE_MIN, LATE_MAX) - LATE_MIN, len(pid), n_late)
    # pooled per merchant: the pmf of all its products' orders
    merchants, m_idx = np.unique(products["merchant_id"].to_numpy(), return_inverse=True)
    lead_pool, late_pool = np.zeros((len(merchants), n_lead)), np.zeros((len(merchants), n_late))
    np.add.at(lead_pool, m_idx, lead_own)
    np.add.at(late_pool, m_idx, late_own)
    lead_pool = lead_pool / np.maximum(lead_pool.sum(axis=1, keepdims=True), 1.0)
    late_pool = late_pool / np.maximum(late_pool.sum(axis=1, keepdims=True), 1.0)
    # a merchant without any received order: a week's lead, on time (said in the reason as "no history")
    lead_fallback = np.zeros(n_lead)
    lead_fallback[7] = 1.0
    late_fallback = np.zeros(n_late)
    late_fallback[-LATE_MIN] = 1.0
    lead_prior = _scaled_prior(got, rows, lead_own, m_idx, len(merchants))
    lead_pmf = _shrunk(lead_own, np.where(lead_prior.sum(axis=1, keepdims=True) > 0, lead_prior, lead_pool[m_idx]),
                       lead_fallback)
    late_pmf = _shrunk(late_own, late_pool[m_idx], late_fallback)
    days = np.arange(n_lead)
    mean = lead_pmf @ days
    sd = np.sqrt(np.maximum(lead_pmf @ days ** 2 - mean ** 2, 0.0))
    count = lead_own.sum(axis=1)
    late_sum = got.group_by("_row").agg(pl.col("late_raw").mean())
    late_mean = np.full(len(pid), np.nan)
    late_mean[late_sum["_row"].to_numpy()] = late_sum["late_raw"].to_numpy()
    return SupplierModel(pid, lead_pmf, late_pmf, _median(lead_pmf, 0), sd, late_mean, count)
