"""Association rules from baskets: mlxtend's FP-growth on a sparse one-hot matrix (``compute_rules``).

Input is one row per (basket, product) (``analytics.baskets.load_basket_lines``). The steps, and why:

- **Basket cap.** A basket with more than ``MAX_BASKET_ITEMS`` distinct products (a wholesale order) is
  skipped, not truncated: it is counted and reported (``BasketCounts``), but it takes no part in the mining,
  not even in the number of baskets supports are divided by. Truncating would invent a smaller basket that
  never happened; keeping it would pair each of its hundreds of products with every other and, as FP-growth's
  work grows with the length of a basket, cost more than all the ordinary baskets together.
- **Support threshold.** ``choose_min_support``: an itemset must be in at least ``MIN_BASKETS`` baskets
  and in at least ``MIN_SUPPORT_FLOOR`` of them, so a rule always rests on enough baskets to mean something
  and the number of items stays bounded at any size of shop.
- **Only what can matter reaches FP-growth.** Item supports are counted directly (polars). Products below the
  threshold are dropped (no itemset containing them can be frequent), then baskets left with fewer than two
  products (they hold no pair). FP-growth runs on the rest, a scipy CSR matrix wrapped as a pandas sparse
  frame, with the threshold as a count; its supports are turned back into shares of all kept baskets. The
  itemsets are exactly those of FP-growth on every kept basket (a test checks them against efficient-apriori).
- **Rules.** mlxtend's ``association_rules`` over every frequent itemset: support (share of baskets holding
  the whole rule), confidence (share of baskets with the "if" side that also hold the "then" side) and lift
  (confidence over the "then" side's own support: 1 = no more often than by chance).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp
from mlxtend.frequent_patterns import association_rules, fpgrowth

MAX_BASKET_ITEMS = 50  # baskets with more distinct products are skipped (see the module doc)
MIN_BASKETS = 20  # an itemset must be in at least this many baskets ...
MIN_SUPPORT_FLOOR = 0.001  # ... and in at least this share of them
MIN_CONFIDENCE = 0.05  # share of the "if" side's baskets that also hold the "then" side
MAX_ITEMSET = 3  # itemsets of up to three products: rules "A and B -> C" at most

RULE_COLUMNS = ("antecedents", "consequents", "antecedent_support", "consequent_support", "support", "confidence",
                "lift", "baskets")


@dataclass(frozen=True)
class BasketCounts:
    """How many baskets the mining saw: kept ones, those skipped for size, and the share of lines skipped."""

    baskets: int
    skipped: int
    skipped_line_share: float
    max_items: int | None


def choose_min_support(baskets: int) -> float:
    """The support threshold for ``baskets`` kept baskets (see the module doc)."""
    if baskets <= 0:
        return 1.0
    return max(MIN_SUPPORT_FLOOR, MIN_BASKETS / baskets)


def cap_baskets(lines: pl.DataFrame, max_items: int | None = MAX_BASKET_ITEMS) -> tuple[pl.DataFrame, BasketCounts]:
    """``lines`` (order_id, product_id, ...) without the baskets of more than ``max_items`` distinct products
    (None: no cap), and the counts. Duplicate (order, product) rows count once."""
    sizes = lines.group_by("order_id").agg(pl.col("product_id").n_unique().alias("n"))
    total = sizes.height
    if max_items is None or total == 0:
        return lines, BasketCounts(total, 0, 0.0, max_items)
    big = sizes.filter(pl.col("n") > max_items)
    if big.height == 0:
        return lines, BasketCounts(total, 0, 0.0, max_items)
    kept = lines.join(big.select("order_id"), on="order_id", how="anti")
    share = float(big["n"].sum()) / max(int(sizes["n"].sum()), 1)
    return kept, BasketCounts(total - big.height, big.height, share, max_items)


def compute_itemsets(lines: pl.DataFrame, min_support: float, max_len: int = MAX_ITEMSET) -> tuple[pl.DataFrame, int]:
    """Frequent itemsets of the baskets in ``lines`` (order_id, product_id): a frame with ``items`` (list of
    product ids, sorted), ``support`` (share of baskets) and ``baskets`` (count), and the number of baskets."""
    items = lines.select("order_id", "product_id").unique()
    n = items["order_id"].n_unique()
    empty = pl.DataFrame(schema={"items": pl.List(pl.Int64), "support": pl.Float64, "baskets": pl.Int64})
    if n == 0:
        return empty, 0
    need = max(1, math.ceil(min_support * n - 1e-9))  # the threshold as a basket count
    singles = items.group_by("product_id").agg(pl.len().alias("baskets")).filter(pl.col("baskets") >= need)
    frequent = items.join(singles.select("product_id"), on="product_id", how="semi")
    multi = frequent.filter(pl.len().over("order_id") >= 2)
    out = [singles.select(pl.concat_list(pl.col("product_id").cast(pl.Int64)).alias("items"),
                          pl.col("baskets").cast(pl.Int64))]
    if multi.height and max_len >= 2:
        out.append(_fpgrowth_itemsets(multi, need, max_len))
    found = pl.concat(out).with_columns(pl.col("items").list.sort())
    return found.with_columns(support=pl.col("baskets") / n).select("items", "support", "baskets"), n


def _fpgrowth_itemsets(multi: pl.DataFrame, need: int, max_len: int) -> pl.DataFrame:
    """Itemsets of two or more products with at least ``need`` baskets, by FP-growth on a sparse matrix."""
    codes = multi.with_columns(
        row=pl.col("order_id").rank("dense").cast(pl.Int64) - 1,
        col=pl.col("product_id").rank("dense").cast(pl.Int64) - 1)
    rows, cols = codes["row"].to_numpy(), codes["col"].to_numpy()
    products = codes.unique("col").sort("col")["product_id"].to_numpy()
    n_rows = int(rows.max()) + 1
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_rows, len(products)))
    with warnings.catch_warnings():
        # pandas 2.x deprecates the False fill of a bool sparse frame built this way; it is the one mlxtend
        # reads fastest (0/1 integers are slower and warned about by mlxtend itself).
        warnings.simplefilter("ignore", FutureWarning)
        frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=range(len(products)))
    # Half a basket below the count, so float rounding never drops an itemset that has exactly ``need``.
    # mlxtend 0.25 sums the columns of a dense copy (``df.values``) before building its tree from the CSR rows:
    # rows x columns bytes. Only products that can be frequent are columns (at most mean basket size / support,
    # about 2,400 at 0.1%), which is what keeps that copy to hundreds of MB at 10M orders.
    found = fpgrowth(frame, min_support=(need - 0.5) / n_rows, max_len=max_len)
    found = found[found["itemsets"].map(len) >= 2]
    counts = np.rint(found["support"].to_numpy() * n_rows).astype(np.int64)
    sets = [sorted(int(products[i]) for i in s) for s in found["itemsets"]]
    return pl.DataFrame({"items": sets, "baskets": counts}, schema={"items": pl.List(pl.Int64),
                                                                    "baskets": pl.Int64}).filter(
        pl.col("baskets") >= need)


def compute_rules(itemsets: pl.DataFrame, baskets: int, min_confidence: float = MIN_CONFIDENCE) -> pl.DataFrame:
    """Association rules of ``itemsets`` (``compute_itemsets``) by mlxtend's ``association_rules``.

    Columns: antecedents, consequents (lists of product ids, sorted), antecedent_support, consequent_support,
    support (shares of baskets, 0..1), confidence (0..1), lift (ratio), baskets (count holding the whole rule).
    Sorted by lift, then support, descending.
    """
    empty = pl.DataFrame(schema={"antecedents": pl.List(pl.Int64), "consequents": pl.List(pl.Int64),
                                 **{c: pl.Float64 for c in RULE_COLUMNS[2:7]}, "baskets": pl.Int64})
    if baskets == 0 or not itemsets.filter(pl.col("items").list.len() >= 2).height:
        return empty
    frame = pd.DataFrame({"support": itemsets["support"].to_numpy(),
                          "itemsets": [frozenset(s) for s in itemsets["items"].to_list()]})
    rules = association_rules(frame, num_itemsets=baskets, metric="confidence", min_threshold=min_confidence,
                              return_metrics=["antecedent support", "consequent support", "support", "confidence",
                                              "lift"])
    if rules.empty:
        return empty
    out = pl.DataFrame({
        "antecedents": [sorted(int(x) for x in s) for s in rules["antecedents"]],
        "consequents": [sorted(int(x) for x in s) for s in rules["consequents"]],
        "antecedent_support": rules["antecedent support"].to_numpy(dtype=float),
        "consequent_support": rules["consequent support"].to_numpy(dtype=float),
        "support": rules["support"].to_numpy(dtype=float),
        "confidence": rules["confidence"].to_numpy(dtype=float),
        "lift": rules["lift"].to_numpy(dtype=float),
    }, schema_overrides={"antecedents": pl.List(pl.Int64), "consequents": pl.List(pl.Int64)})
    out = out.with_columns(baskets=(pl.col("support") * baskets).round(0).cast(pl.Int64))
    return out.sort(["lift", "support", "baskets"], descending=True, maintain_order=True)


def mine(lines: pl.DataFrame, max_items: int | None = MAX_BASKET_ITEMS, min_support: float | None = None,
         min_confidence: float = MIN_CONFIDENCE, max_len: int = MAX_ITEMSET) -> tuple[pl.DataFrame, BasketCounts,
                                                                                        float]:
    """Cap, choose the support threshold (unless given), mine and make rules: (rules, counts, min_support)."""
    kept, counts = cap_baskets(lines, max_items)
    support = choose_min_support(counts.baskets) if min_support is None else float(min_support)
    itemsets, n = compute_itemsets(kept, support, max_len)
    return compute_rules(itemsets, n, min_confidence), counts, support
