"""Stock at the fulfilment centre: daily simulation, replenishment, planted supply disruptions.

Every non-cancelled order line draws on the merchant's one warehouse (store and
click-and-collect sales are assumed restocked from it the same day). When a
day's demand for a SKU exceeds the stock available that morning, the later
lines of that day are cut (partly or wholly) and the shortfall is lost demand.
Cancelled orders hold no stock; their lines are refused when the SKU had no
stock that morning. Returned goods are written off, not restocked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEAD_CHOICES = np.array([4, 6, 8, 10, 14, 21])
SAFETY_DAYS = 4
DISRUPTION_SHARE = 0.08  # SKUs whose supplier fails once in the window (planted stock-outs)


@dataclass
class StockResult:
    close: np.ndarray  # (days, products) on hand at close of day
    sold: np.ndarray  # (days, products) units sold
    lost: np.ndarray  # (days, products) units demanded but not available
    available: np.ndarray  # (days, products) on hand at the start of day (after receipts)
    po_product: np.ndarray
    po_ordered: np.ndarray  # day index
    po_expected: np.ndarray  # day index
    po_received: np.ndarray  # day index (may be beyond the window: still open)
    po_qty: np.ndarray


def simulate(demand: np.ndarray, launch_idx: np.ndarray, rng: np.random.Generator) -> StockResult:
    """Run the reorder-point policy day by day (vectorised over products)."""
    n_days, n_prod = demand.shape
    launch = np.maximum(launch_idx, 0)
    live_days = np.maximum(n_days - launch, 1)
    mu = demand.sum(axis=0) / live_days  # the planner's forecast of daily demand
    lead = rng.choice(LEAD_CHOICES, size=n_prod)
    cover = rng.uniform(18, 40, size=n_prod)
    rop = np.ceil(mu * (lead + SAFETY_DAYS)).astype(np.int64)
    target = np.ceil(rop + mu * cover).astype(np.int64) + 1
    # Planted supplier failures: orders placed in the disruption window arrive weeks late.
    disrupted = rng.random(n_prod) < DISRUPTION_SHARE
    d_start = np.where(disrupted, rng.integers(30, max(n_days - 60, 31), size=n_prod), n_days + 1)
    d_end = d_start + rng.integers(10, 30, size=n_prod)
    d_extra = rng.integers(20, 45, size=n_prod)

    horizon = n_days + int(LEAD_CHOICES.max() * 2) + 60
    receipts = np.zeros((horizon, n_prod), dtype=np.int64)
    on_hand = np.zeros(n_prod, dtype=np.int64)
    on_order = np.zeros(n_prod, dtype=np.int64)
    close = np.empty((n_days, n_prod), dtype=np.int32)
    sold = np.empty((n_days, n_prod), dtype=np.int32)
    avail = np.empty((n_days, n_prod), dtype=np.int32)
    pos: list[tuple[np.ndarray, ...]] = []
    cols = np.arange(n_prod)
    for d in range(n_days):
        on_hand += receipts[d]
        on_order -= receipts[d]
        on_hand[launch == d] += target[launch == d]  # opening stock arrives for launch
        avail[d] = on_hand
        s = np.minimum(demand[d], on_hand)
        sold[d] = s
        on_hand -= s
        close[d] = on_hand
        need = np.flatnonzero((launch <= d) & (mu > 0) & (on_hand + on_order <= rop))
        if len(need):
            qty = target[need] - on_hand[need] - on_order[need]
            actual = np.maximum(1, np.round(lead[need] * rng.lognormal(0.0, 0.25, size=len(need)))).astype(np.int64)
            late = (d >= d_start[need]) & (d <= d_end[need])
            actual = np.minimum(actual + np.where(late, d_extra[need], 0), horizon - d - 1)
            receipts[d + actual, cols[need]] += qty
            on_order[need] += qty
            pos.append((need, np.full(len(need), d), d + lead[need], d + actual, qty))
    if pos:
        po = [np.concatenate(x) for x in zip(*pos)]
    else:
        po = [np.empty(0, np.int64)] * 5
    lost = (demand - sold).astype(np.int32)
    return StockResult(close, sold, lost, avail, *po)


def fulfil(line_day: np.ndarray, line_product: np.ndarray, line_qty: np.ndarray, line_time: np.ndarray,
           line_cancelled: np.ndarray, stock: StockResult) -> np.ndarray:
    """Units actually sold on each line (0 = line refused) given the simulated stock.

    Lines of a SKU-day are served in time order (line_time) until the day's stock
    is gone. Only SKU-days with lost demand need that; elsewhere every line is served.
    """
    kept = line_qty.astype(np.int32, copy=True)
    short = np.flatnonzero((stock.lost[line_day, line_product] > 0) & ~line_cancelled)
    if len(short):
        order = short[np.lexsort((line_time[short], line_day[short], line_product[short]))]
        q = line_qty[order].astype(np.int64)
        cum = np.cumsum(q)
        grp_key = line_product[order].astype(np.int64) * (1 << 20) + line_day[order]
        new_grp = np.concatenate([[True], grp_key[1:] != grp_key[:-1]])
        grp_start_cum = np.maximum.accumulate(np.where(new_grp, cum - q, 0))
        before = cum - q - grp_start_cum
        can = stock.sold[line_day[order], line_product[order]].astype(np.int64)
        kept[order] = np.clip(can - before, 0, q).astype(np.int32)
    dead = np.flatnonzero(line_cancelled)
    kept[dead] = np.where(stock.available[line_day[dead], line_product[dead]] > 0, line_qty[dead], 0)
    return kept


def stockout_spells(close: np.ndarray, launch_idx: np.ndarray, first_day: int) -> tuple[np.ndarray, ...]:
    """(product, start day, end day) of every run of zero closing stock after launch."""
    n_days = close.shape[0]
    live = np.arange(n_days)[:, None] >= np.maximum(launch_idx, 0)[None, :]
    zero = (close == 0) & live
    zero[:first_day] = False
    z = zero.T  # products x days, so nonzero() walks each product's days in order
    prev = np.zeros_like(z)
    prev[:, 1:] = z[:, :-1]
    nxt = np.zeros_like(z)
    nxt[:, :-1] = z[:, 1:]
    sp, sd = np.nonzero(z & ~prev)
    _, ed = np.nonzero(z & ~nxt)
    return sp, sd, ed
