"""Shipments of online orders with carrier- and region-specific planted delays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.geo import CARRIERS, INTERNATIONAL, REMOTE

LOST_PROB = 0.002
PROBLEM_PAIRS = 2  # carrier-region pairs with a planted large delay


@dataclass
class Deliveries:
    order: np.ndarray  # order position
    partner: np.ndarray  # index into partners
    region: np.ndarray  # index into regions (last = International)
    shipped: np.ndarray  # day index
    promised: np.ndarray
    delivered: np.ndarray  # day index, -1 null
    partners: list[str]
    regions: list[str]
    mean_delay: np.ndarray  # (partners, regions) planted mean delay, days


def planted_delays(country: str, regions: list[str], rng: np.random.Generator) -> np.ndarray:
    n_p, n_r = len(CARRIERS[country]), len(regions)
    partner_base = rng.uniform(-0.3, 0.8, size=n_p)
    region_base = rng.normal(0.0, 0.25, size=n_r) + np.array([1.2 if r in REMOTE else 0.0 for r in regions])
    region_base[-1] += 2.0  # International
    mean = partner_base[:, None] + region_base[None, :]
    for _ in range(PROBLEM_PAIRS):
        mean[rng.integers(0, n_p), rng.integers(0, n_r - 1)] += 2.5
    return np.round(np.maximum(mean, -0.8), 3)


def build_deliveries(country: str, region_names: list[str], order_day: np.ndarray, order_sec: np.ndarray,
                     region: np.ndarray, shipped_mask: np.ndarray, n_days: int, epoch_day0: int,
                     rng: np.random.Generator) -> Deliveries:
    """region: order region code, -1 = abroad (International); epoch_day0: day 0 in days since 1970-01-01."""
    regions = [*region_names, INTERNATIONAL]
    carriers = CARRIERS[country]
    mean = planted_delays(country, regions, rng)
    idx = np.flatnonzero(shipped_mask)
    n = len(idx)
    share = np.array([c[1] for c in carriers])
    partner = rng.choice(len(carriers), size=n, p=share / share.sum()).astype(np.int8)
    reg = np.where(region[idx] < 0, len(regions) - 1, region[idx]).astype(np.int16)
    shipped = order_day[idx] + (order_sec[idx] >= 14 * 3600) + (rng.random(n) < 0.15)
    shipped += (shipped + epoch_day0 + 3) % 7 == 6  # nothing leaves on a Sunday (1970-01-01 was a Thursday)
    transit = np.array([c[2] for c in carriers])[partner] + np.where(reg == len(regions) - 1, 3, 0)
    promised = shipped + transit
    m = mean[partner, reg]
    delay = rng.poisson(m + 1.0) - 1  # mean exactly the planted mean
    delivered = promised + delay
    open_ = (delivered >= n_days) | (rng.random(n) < LOST_PROB)
    keep = shipped < n_days  # orders of the last afternoon ship after the data ends
    return Deliveries(idx[keep], partner[keep], reg[keep], shipped[keep], promised[keep],
                      np.where(open_, -1, delivered)[keep], [c[0] for c in carriers], regions, mean)
