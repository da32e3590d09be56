"""The named RFM segments (a registry of rules on the R and FM scores) and k-means clusters beside them.

Rules. Each customer has an R score and an FM score, both 1..5 (``analytics.rfm``); FM is the mean of the F
and M scores rounded half up, ``(f + m + 1) // 2``, so spending counts as much as coming back. Each segment
of ``SEGMENTS`` owns a block of the 5 x 5 grid of (R, FM); the blocks do not overlap and cover the whole grid
(tests/test_rfm_segments.py checks both), so every customer gets exactly one segment and no order of rules
matters.

Clusters. K-means (scikit-learn) on the log-scaled RFM values ``log1p(recency_days)``, ``log1p(frequency)``,
``log1p(max(monetary, 0))`` (money can be negative when returns exceed purchases; they count as nothing
spent), each standardised. k is the candidate with the best mean silhouette on a seeded sample of at most
``SAMPLE`` customers; the model fitted on that sample assigns every customer. Each cluster is described in
words from its medians against all the merchant's customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

SAMPLE = 2_000
CANDIDATES = tuple(range(2, 9))
SEED = 20
N_INIT = 3


@dataclass(frozen=True)
class Segment:
    label: str
    r_scores: tuple[int, ...]
    fm_scores: tuple[int, ...]
    meaning: str

    @property
    def rule(self) -> str:
        """The rule in words, as the README's segments table gives it."""
        return f"R {_span(self.r_scores)}, FM {_span(self.fm_scores)}"


def _span(scores: tuple[int, ...]) -> str:
    return str(scores[0]) if len(scores) == 1 else f"{scores[0]}-{scores[-1]}"


# R: 5 = bought most recently. FM: 5 = most orders and money. The order is the order pages list them in.
SEGMENTS: tuple[Segment, ...] = (
    Segment("Champions", (5,), (4, 5), "Bought very recently, buy often and spend the most."),
    Segment("Loyal", (3, 4), (4, 5), "Buy often and spend a lot; not the very latest buyers."),
    Segment("Potential loyalists", (4, 5), (2, 3), "Recent buyers with a few orders or a fair spend."),
    Segment("New", (5,), (1,), "Bought very recently for the first time or little so far."),
    Segment("Promising", (4,), (1,), "Recent buyers who have bought little so far."),
    Segment("Need attention", (3,), (3,), "Middling on every count: they may slip without a nudge."),
    Segment("About to sleep", (3,), (1, 2), "Last bought a while ago and bought little."),
    Segment("At risk", (1, 2), (3, 4), "Bought often and spent well, but not for a long time."),
    Segment("Cannot lose them", (1, 2), (5,), "Among the best customers once, gone quiet for a long time."),
    Segment("Hibernating", (2,), (1, 2), "Bought little, long ago."),
    Segment("Lost", (1,), (1, 2), "Bought little, and longest ago of all."),
)
SEGMENTS_BY_LABEL = {s.label: s for s in SEGMENTS}
SEGMENT_ORDER = tuple(s.label for s in SEGMENTS)
# Labels of the movement chart's ends for customers outside the RFM table on one of the two dates.
NOT_YET = "Not yet a customer"
GONE = "No longer in the data"


def fm_score(f: pl.Expr, m: pl.Expr) -> pl.Expr:
    """The FM score: mean of F and M rounded half up (1..5)."""
    return ((f + m + 1) // 2).cast(pl.Int8)


def segment_grid() -> pl.DataFrame:
    """The 25 cells of (r_score, fm_score) with their segment label (one row per cell)."""
    rows = [{"r_score": r, "fm_score": fm, "segment": s.label}
            for s in SEGMENTS for r in s.r_scores for fm in s.fm_scores]
    return pl.DataFrame(rows, schema={"r_score": pl.Int8, "fm_score": pl.Int8, "segment": pl.Utf8})


def assign_segments(scores: pl.DataFrame) -> pl.DataFrame:
    """``scores`` (r_score, f_score, m_score as Int8) with a ``segment`` column (label of ``SEGMENTS``)."""
    with_fm = scores.with_columns(fm_score(pl.col("f_score"), pl.col("m_score")).alias("fm_score"))
    return with_fm.join(segment_grid(), on=["r_score", "fm_score"], how="left", maintain_order="left").drop(
        "fm_score")


def segment_enum() -> pl.Enum:
    return pl.Enum([*SEGMENT_ORDER, NOT_YET, GONE])


# ---------------------------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class Clusters:
    """K-means on log-scaled RFM. ``assignments``: customer_id, cluster (1..k, by descending median spend).
    ``summary``: one row per cluster (see ``describe_clusters``). ``silhouettes``: k, silhouette (the mean
    silhouette of each candidate on the sample). ``sample_rows``: the row numbers of the sample."""

    k: int
    assignments: pl.DataFrame
    summary: pl.DataFrame
    silhouettes: pl.DataFrame
    sample_rows: np.ndarray


def rfm_features(rfm: pl.DataFrame) -> np.ndarray:
    """The clustering input: log1p of recency days, orders and money (negatives as 0), standardised."""
    raw = rfm.select(
        pl.col("recency_days").cast(pl.Float64).log1p(),
        pl.col("frequency").cast(pl.Float64).log1p(),
        pl.col("monetary").cast(pl.Float64).clip(lower_bound=0).log1p(),
    ).to_numpy()
    std = raw.std(axis=0)
    return (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)


def sample_rows(n: int, size: int = SAMPLE, seed: int = SEED) -> np.ndarray:
    """The seeded sample the silhouettes are measured on: sorted row numbers, all rows when n <= size."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def compute_clusters(rfm: pl.DataFrame, *, candidates: tuple[int, ...] = CANDIDATES, sample: int = SAMPLE,
                     seed: int = SEED) -> Clusters | None:
    """K-means clusters of ``compute_rfm``'s frame, k chosen by silhouette; None when fewer than 3 distinct
    customers' values leave no k to choose (the page says so)."""
    import sklearn.cluster  # noqa: F401 - loads scikit-learn's OpenMP runtime before the limit below is set
    from threadpoolctl import threadpool_limits

    if rfm.height < 3:
        return None
    # One thread: OpenMP's spinning workers beside DuckDB, polars and other sessions on 2 shared cores made a fit
    # on a 3,000-customer sample take 3.6 s instead of 0.05 s (demo warehouse, load 12); the sample is small.
    # The limit only reaches libraries already loaded, hence the import above.
    with threadpool_limits(limits=1):
        return _fit_clusters(rfm, candidates, sample, seed)


def _fit_clusters(rfm: pl.DataFrame, candidates: tuple[int, ...], sample: int, seed: int) -> Clusters | None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = rfm_features(rfm)
    rows = sample_rows(len(x), sample, seed)
    xs = x[rows]
    distinct = len(np.unique(xs, axis=0))
    usable = [k for k in candidates if 2 <= k < min(distinct, len(xs))]
    if not usable:
        return None
    scores, models = [], {}
    for k in usable:
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(xs)
        labels = model.labels_
        scores.append(silhouette_score(xs, labels) if len(set(labels)) > 1 else -1.0)
        models[k] = model
    best = usable[int(np.argmax(scores))]  # the first of equal scores: the fewest clusters
    raw = models[best].predict(x)
    assignments = _renumber(rfm.select("customer_id", "monetary").with_columns(pl.Series("raw", raw)))
    summary = describe_clusters(rfm, assignments)
    silhouettes = pl.DataFrame({"k": usable, "silhouette": scores}, schema={"k": pl.Int64, "silhouette": pl.Float64})
    return Clusters(best, assignments, summary, silhouettes, rows)


def _renumber(frame: pl.DataFrame) -> pl.DataFrame:
    """Clusters numbered 1.. by descending median money, so the numbering means something and is stable."""
    order = (frame.group_by("raw").agg(pl.col("monetary").median().alias("med"))
             .sort(["med", "raw"], descending=[True, False]).with_row_index("cluster", offset=1))
    out = frame.join(order.select("raw", pl.col("cluster").cast(pl.Int64)), on="raw", maintain_order="left")
    return out.select("customer_id", "cluster")


def _level(value: float, low: float, high: float, words: tuple[str, str, str]) -> str:
    return words[0] if value <= low else words[2] if value > high else words[1]


RECENCY_WORDS = ("bought recently", "last bought a while ago", "not seen for a long time")
FREQUENCY_WORDS = ("few orders", "some repeat orders", "many orders")
MONEY_WORDS = ("low spend", "middling spend", "high spend")


def describe_clusters(rfm: pl.DataFrame, assignments: pl.DataFrame) -> pl.DataFrame:
    """One row per cluster: cluster, customers, median_recency_days, median_frequency, median_monetary (money),
    description (words: each median against the merchant's thirds), top_segment (the commonest rule-based
    segment in it) and top_segment_share (fraction of the cluster in that segment)."""
    j = rfm.join(assignments, on="customer_id")
    cuts = {c: (rfm[c].cast(pl.Float64).quantile(1 / 3, "nearest"), rfm[c].cast(pl.Float64).quantile(2 / 3, "nearest"))
            for c in ("recency_days", "frequency", "monetary")}
    med = j.group_by("cluster").agg(
        pl.len().alias("customers"),
        pl.col("recency_days").cast(pl.Float64).median().alias("median_recency_days"),
        pl.col("frequency").cast(pl.Float64).median().alias("median_frequency"),
        pl.col("monetary").cast(pl.Float64).median().alias("median_monetary"),
    ).sort("cluster")
    top = (j.group_by("cluster", "segment").agg(pl.len().alias("n"))
           .sort(["cluster", "n", "segment"], descending=[False, True, False]).group_by("cluster", maintain_order=True)
           .first())
    words = [
        "; ".join((_level(r, *cuts["recency_days"], RECENCY_WORDS), _level(f, *cuts["frequency"], FREQUENCY_WORDS),
                   _level(m, *cuts["monetary"], MONEY_WORDS))).capitalize()
        for r, f, m in med.select("median_recency_days", "median_frequency", "median_monetary").iter_rows()
    ]
    out = med.with_columns(pl.Series("description", words, dtype=pl.Utf8)).join(
        top.select("cluster", pl.col("segment").alias("top_segment"), "n"), on="cluster", maintain_order="left")
    return out.with_columns((pl.col("n") / pl.col("customers")).alias("top_segment_share")).drop("n")


def compute_cluster_segments(rfm: pl.DataFrame, assignments: pl.DataFrame) -> pl.DataFrame:
    """Clusters beside the rule-based segments: customers of each (cluster, segment) pair, every pair listed
    (0 where none). Columns: cluster (1..k), segment (``SEGMENT_ORDER``), customers (count). Sorted by
    cluster, then segment in registry order."""
    counts = rfm.join(assignments, on="customer_id").group_by("cluster", "segment").agg(
        pl.len().cast(pl.Int64).alias("customers"))
    grid = pl.DataFrame({"cluster": sorted(assignments["cluster"].unique().to_list())}).join(
        pl.DataFrame({"segment": list(SEGMENT_ORDER)}), how="cross")
    out = grid.join(counts, on=["cluster", "segment"], how="left", maintain_order="left")
    return out.with_columns(pl.col("customers").fill_null(0))
