"""Who a campaign targets, and what their buying says about the campaign.

An audience is a frame of customer_id and stratum (the RFM segment, a churn or value band, or "Uploaded
list"). ``parse_references`` reads an uploaded list of the merchant's own customer references
(``customers.external_id``), and ``match_references`` reports every reference it cannot place, by line and
value, instead of dropping it.

``build_stats`` turns the audience and its customers' recent activity (``history.load_activity``) into the
simulation's ``AudienceStats``: per stratum, the chance of an in-scope order during a campaign of ``days``
days (each customer's in-scope order rate over the look-back, as a Poisson chance 1 - exp(-rate x days)),
mean order value and its spread; over the audience, the covered share of order value, the margin rate of
the goods and the shipping charged per order. Customers with no activity count with a zero rate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.campaigns.simulation import AudienceStats

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_REFERENCES = 200_000
MAX_REFERENCE_CHARS = 200
HEADERS = {"external_id", "customer", "customer_id", "customer reference", "reference", "id"}
DEFAULT_CV = 1.0  # order value spread when too few orders show one


@dataclass(frozen=True)
class References:
    values: tuple[str, ...]  # in file order, duplicates removed
    lines: tuple[int, ...]  # the line of each value
    problems: tuple[tuple[int, str, str], ...]  # (line, value, reason) of lines that could not be read


def parse_references(content: bytes) -> References:
    """References from a CSV or text file: the first column of every line (a header such as "external_id"
    is skipped). Raises ValueError with a sentence for a file that cannot be read at all."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValueError(f"the list is {len(content):,} bytes; at most {MAX_UPLOAD_BYTES:,} are read")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the list is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    if "\x00" in text:
        raise ValueError("the list holds NUL characters: it is not a text file")
    values, lines, problems, seen = [], [], [], set()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            cell = row[0].strip() if row else ""
            if not cell:
                continue
            if not values and not problems and cell.lower() in HEADERS:
                continue
            if len(cell) > MAX_REFERENCE_CHARS:
                problems.append((line, cell[:40] + "...", f"longer than {MAX_REFERENCE_CHARS} characters"))
                continue
            if cell in seen:
                problems.append((line, cell, "repeated: counted once"))
                continue
            if len(values) >= MAX_REFERENCES:
                raise ValueError(f"the list holds more than {MAX_REFERENCES:,} references")
            seen.add(cell)
            values.append(cell)
            lines.append(line)
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: {exc}") from None
    return References(tuple(values), tuple(lines), tuple(problems))


def match_references(refs: References, known: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(matched: customer_id, external_id; unknown: line, reference, reason) from ``known``
    (``history.load_external_ids``). Unknown rows include the lines ``parse_references`` could not read."""
    listed = pl.DataFrame({"line": list(refs.lines), "reference": list(refs.values)},
                          schema={"line": pl.Int64, "reference": pl.Utf8})
    ids = known.rename({"external_id": "reference"}).unique("reference", keep="first")
    joined = listed.join(ids, on="reference", how="left", maintain_order="left")
    matched = joined.filter(pl.col("customer_id").is_not_null()).select(
        "customer_id", pl.col("reference").alias("external_id")).unique("customer_id", keep="first")
    unknown = joined.filter(pl.col("customer_id").is_null()).select(
        "line", "reference", pl.lit("not a customer of this merchant").alias("reason"))
    bad = pl.DataFrame([{"line": line, "reference": value, "reason": reason} for line, value, reason in refs.problems],
                       schema={"line": pl.Int64, "reference": pl.Utf8, "reason": pl.Utf8})
    return matched, pl.concat([unknown, bad]).sort("line")


def build_stats(audience: pl.DataFrame, activity: pl.DataFrame, *, days: int, lookback_days: int) -> AudienceStats:
    """``AudienceStats`` of ``audience`` (customer_id, stratum) for a campaign of ``days`` days (module doc)."""
    j = audience.select("customer_id", "stratum").join(activity, on="customer_id", how="left").fill_null(0)
    rate = j["scope_orders"].cast(pl.Float64) / lookback_days
    j = j.with_columns(pl.Series("p", 1 - np.exp(-rate.to_numpy() * days)))
    per = j.group_by("stratum").agg(
        pl.len().alias("n"), pl.col("p").mean(), pl.col("orders").sum(), pl.col("value").sum(),
        pl.col("value_sq").sum()).sort("stratum")
    all_orders = max(float(j["orders"].sum()), 0.0)
    all_value = float(j["value"].sum())
    mean_all = all_value / all_orders if all_orders else 0.0
    orders = per["orders"].to_numpy().astype(float)
    value = per["value"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        aov = np.where(orders > 0, value / orders, mean_all)
        var = np.where(orders > 1, per["value_sq"].to_numpy() / orders - aov ** 2, np.nan)
        cv = np.where(np.isfinite(var) & (var > 0) & (aov > 0), np.sqrt(np.maximum(var, 0)) / aov, DEFAULT_CV)
    lines_value = float(j["lines_value"].sum())
    costed = float(j["costed_value"].sum())
    return AudienceStats(
        labels=tuple(per["stratum"].cast(pl.Utf8).to_list()), customers=per["n"].to_numpy().astype(np.int64),
        p0=per["p"].to_numpy().astype(float), aov=np.maximum(aov, 0.0), cv=cv,
        covered_share=float(j["covered_value"].sum()) / lines_value if lines_value > 0 else 1.0,
        margin_rate=1 - float(j["cost"].sum()) / costed if costed > 0 else 0.0,
        shipping=float(j["shipping"].sum()) / all_orders if all_orders else 0.0)


def without(audience: pl.DataFrame, holdout: pl.DataFrame) -> pl.DataFrame:
    """The audience's contacted customers: those not flagged as holdout in ``holdout`` (customer_id, holdout)."""
    return audience.join(holdout.filter(pl.col("holdout")).select("customer_id"), on="customer_id", how="anti")
