"""Root-cause hints for an incident, ranked, each with its evidence (plain text; names from data stay text).

Candidates (``CAUSES``, a registry: each returns zero or more ``Cause`` with a weight in [0, 1]):

- ``dimension``: the value of a dimension (region, channel, payment method, category) whose orders fell furthest
  below its usual share of the orders that did come (negative binomial tail, times sqrt(values)): weight = strength of that evidence
  (-log10 of the tail / 3, at most 1) x how far it fell. When the total fell and no value stands out, "every
  region fell alike" (site-wide) is the hint, weight = (fall - 10%) / 40%, at most 1;
- ``stockout``: products with no stock anywhere on the incident's days, weighted by their normal sales;
- ``declines``: payment declines, fraud declines and processing errors per attempt against the four weeks before,
  weighted by how unlikely that many are at the usual rate (binomial tail); failures concentrated in one region
  (``REGION_SHARE``) name it;
- ``campaign_end``: a promotion that ended in the three days before the incident started (weight 0.1 + half its
  discount, at most 0.4: expected values already leave promotion days out);
- ``funnel``: the step (view -> cart -> checkout -> purchase) whose pass rate fell most against the weeks before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

import ibis
import numpy as np
import polars as pl
from scipy import stats

from analytics import facts
from models.alerts import scoring, series
from models.alerts.detection import Frames, metric_parts
from models.alerts.incidents import Cause, Incident
from models.alerts.watch import METRICS

BASELINE_DAYS = 28
REGION_SHARE = 0.6  # failed payments concentrated this much in one region name it
_WORDS = {"region": "region", "channel": "channel", "payment_method": "payment method", "category": "category"}


def breakdown(frames: Frames, metric: str, dimension: str, since: dt.datetime, until: dt.datetime) -> pl.DataFrame:
    """value, observed, expected, difference, share (of the total difference), usual_share (of expected)."""
    schema = {"value": pl.Utf8, "observed": pl.Float64, "expected": pl.Float64, "difference": pl.Float64,
              "share": pl.Float64, "usual_share": pl.Float64}
    if dimension not in METRICS[metric].dimensions or dimension == "total":
        return pl.DataFrame(schema=schema)
    f = frames.get(series.SOURCE_OF[metric], dimension).filter(pl.col("ts") >= since, pl.col("ts") < until)
    rows = []
    for (value,), g in f.group_by(["value"], maintain_order=True):
        _, _, _, _, o, e = metric_parts(metric, g, conditional=False)
        rows.append((str(value), float(pl.Series(o).fill_nan(0).sum()), float(pl.Series(e).fill_nan(0).sum())))
    out = pl.DataFrame(rows, schema={"value": pl.Utf8, "observed": pl.Float64, "expected": pl.Float64}, orient="row")
    if not out.height:
        return pl.DataFrame(schema=schema)
    out = out.with_columns((pl.col("observed") - pl.col("expected")).alias("difference"))
    total_diff, total_exp = float(out["difference"].sum()), float(out["expected"].sum())
    out = out.with_columns(
        (pl.col("difference") / total_diff if total_diff else pl.lit(0.0)).alias("share"),
        (pl.col("expected") / total_exp if total_exp else pl.lit(0.0)).alias("usual_share"))
    return out.sort(pl.col("share"), descending=True).select(list(schema))


def _dimension_causes(frames: Frames, inc: Incident) -> list[Cause]:
    """Per dimension, the value whose orders fell furthest below its usual share of the *observed* total (so a
    site-wide fall does not point at the biggest region): weight = strength of that evidence x how far it fell."""
    out: list[Cause] = []
    best = 0.0
    for dim in ("region", "channel", "payment_method", "category"):
        f = frames.get("orders", dim).filter(pl.col("ts") >= inc.start, pl.col("ts") < inc.end)
        if not f.height:
            continue
        g = f.group_by("value").agg(pl.col("n").sum(), pl.col("c_n").sum(), pl.col("e_n").sum()).drop_nulls()
        g = g.filter(pl.col("c_n") > 0)
        if not g.height:
            continue
        # The worst of many values is picked: its chance is scaled by sqrt(values), a mild multiple-test correction
        # (a full Bonferroni factor buries a real regional outage among fifteen regions).
        tail = np.minimum(1.0, scoring.count_tail(g["n"].to_numpy(), g["c_n"].to_numpy(), True) * np.sqrt(g.height))
        fell = (1 - g["n"].to_numpy() / g["c_n"].to_numpy()).clip(0, 1)
        weights = np.minimum(1.0, -np.log10(np.maximum(tail, 1e-12)) / 3.0) * fell
        i = int(np.argmax(weights))
        weight = float(weights[i])
        best = max(best, weight)
        if weight < 0.1:
            continue
        value, observed, usual = g["value"][i], float(g["n"][i]), float(g["c_n"][i])
        total_e = float(g["e_n"].sum())
        share = float(g["e_n"][i]) / total_e if total_e else 0.0
        out.append(Cause("dimension", f"{_WORDS[dim].capitalize()} {value}",
                         f"{value} usually brings {share:.0%} of orders; {observed:.0f} came in these hours where its "
                         f"usual share of the orders that did come is {usual:.1f} ({fell[i]:.0%} down, a "
                         f"{float(tail[i]):.2g} chance)", round(weight, 3)))
    if inc.direction == "drop":
        f = frames.get("orders", "total").filter(pl.col("ts") >= inc.start, pl.col("ts") < inc.end)
        o, e = float(f["n"].sum()), float(f["e_n"].fill_null(0).sum())
        down = max(0.0, 1 - o / e) if e else 0.0
        # Half the orders gone everywhere is a plain site-wide fall; a single region's outage moves the total by its
        # share of orders only, and the expected level itself is a few percent off, so the first 10% count nothing.
        weight = min(1.0, max(0.0, down - 0.1) / 0.4)
        if weight >= 0.1:
            out.append(Cause("dimension", "Site-wide: every region and channel fell alike",
                             f"{o:.0f} orders against {e:.1f} expected ({down:.0%} down), and no region, channel, "
                             f"payment method or category fell much more than the others", round(weight, 3)))
    return out


def _stockout_causes(frames: Frames, inc: Incident) -> list[Cause]:
    acc, mid = frames.access, frames.merchant_id
    inv, prod = facts.table(acc, "inventory_daily"), facts.table(acc, "products")
    day0, day1 = inc.start.date(), (inc.end - dt.timedelta(microseconds=1)).date()
    base0 = day0 - dt.timedelta(days=BASELINE_DAYS)
    normal = inv.filter((inv.merchant_id == mid) & (inv.day >= base0) & (inv.day < day0)).group_by("product_id") \
        .aggregate(units=inv.units_sold.sum())
    now = inv.filter((inv.merchant_id == mid) & (inv.day >= day0) & (inv.day <= day1)).group_by("product_id") \
        .aggregate(stock=inv.on_hand.max())
    out_now = now.filter(now.stock == 0).join(normal, "product_id").join(
        prod.select("product_id", pname=prod.name, sku=prod.sku), "product_id")
    frame = acc.to_polars(out_now.order_by(ibis.desc("units")).limit(5))
    total = acc.to_polars(normal.aggregate(u=normal.units.sum()))["u"][0] or 0
    if not frame.height or not total:
        return []
    share = float(frame["units"].sum()) / float(total)
    names = ", ".join(str(r["pname"] or r["sku"]) for r in frame.iter_rows(named=True))
    return [Cause("stockout", f"{frame.height} top products out of stock",
                  f"no stock anywhere of {names}; they sold {share:.0%} of units in the {BASELINE_DAYS} days before",
                  round(min(1.0, 3 * share), 3))]


def _decline_causes(frames: Frames, inc: Incident) -> list[Cause]:
    f = frames.get("payments", "total")
    now = f.filter(pl.col("ts") >= inc.start, pl.col("ts") < inc.end)
    before = f.filter(pl.col("ts") < inc.start, pl.col("ts") >= inc.start - dt.timedelta(days=BASELINE_DAYS))
    # Issuer declines and processor failures are separate causes: declines here leave the failures out.
    now, before = (x.with_columns(pl.col("k") - pl.col("failed")) for x in (now, before))
    out = []
    for col, words, kind_label in (("k", "declined by the card issuer", "Payment declines jumped"),
                                   ("fraud", "declined as suspected fraud", "Fraud declines jumped"),
                                   ("failed", "failed at the payment processor", "Payments failing at the processor")):
        n_now, n_before = float(now["n"].sum()), float(before["n"].sum())
        # Processor failures are rare enough that two make evidence; declines need a few payments to mean much.
        enough = float(now[col].sum()) >= 2 if col == "failed" else n_now >= 5
        if not enough or not n_before:
            continue
        r_now, r_before = float(now[col].sum()) / n_now, float(before[col].sum()) / n_before
        if r_now <= r_before * 1.5 or r_now - r_before < 0.02:
            continue
        # How unlikely this many declines are at the usual rate: a few extra declines in a quiet hour are not
        # evidence, a real payment failure is overwhelming.
        floor = scoring.RARE_RATE_FLOOR if col == "failed" else 1e-4
        p = float(stats.binom.sf(float(now[col].sum()) - 1, int(n_now), max(r_before, floor)))
        weight = min(1.0, -np.log10(max(p, 1e-12)) / 6.0)
        if weight < 0.1:
            continue
        label, where = kind_label, ""
        if col == "failed":
            region, count, total = _failure_region(frames, inc)
            if region is not None:
                label, where = f"{kind_label} in {region}", f"; {count} of the {total} were for orders in {region}"
        out.append(Cause("declines", label, f"{r_now:.0%} of {n_now:.0f} payments {words}, against "
                         f"{r_before:.1%} in the {BASELINE_DAYS} days before{where}", round(weight, 3)))
    return out


def _failure_region(frames: Frames, inc: Incident) -> tuple[str | None, int, int]:
    """The region (as analytics defines it: shipping region, else the store's) of most payments that failed at
    the processor in the incident's hours, when it holds at least ``REGION_SHARE`` of them, with how many were
    and of how many; else (None, 0, 0)."""
    acc, mid = frames.access, frames.merchant_id
    p, o, s = facts.table(acc, "payments"), facts.table(acc, "orders"), facts.table(acc, "stores")
    p = p.filter((p.merchant_id == mid) & (p.auth_result == series.PROCESSING_ERROR) & (p.paid_ts >= inc.start)
                 & (p.paid_ts < inc.end)).select(pid="order_id")
    o = o.filter(o.merchant_id == mid).select("order_id", "store_id", "shipping_region")
    j = p.join(o, p.pid == o.order_id).left_join(s.select(sid=s.store_id, sregion=s.region),
                                                 o.store_id == s.store_id)
    j = j.mutate(region=ibis.coalesce(j.shipping_region, j.sregion))
    j = j.filter(j.region.notnull())
    frame = acc.to_polars(j.group_by("region").aggregate(n=j.count()).order_by(ibis.desc("n")))
    total = int(frame["n"].sum()) if frame.height else 0
    if not total or frame["n"][0] < REGION_SHARE * total:
        return None, 0, 0
    return str(frame["region"][0]), int(frame["n"][0]), total


def _campaign_causes(frames: Frames, inc: Incident) -> list[Cause]:
    acc = frames.access
    p = facts.table(acc, "promotions")
    day0 = inc.start.date()
    ended = p.filter((p.merchant_id == frames.merchant_id) & (p.end_date < day0)
                     & (p.end_date >= day0 - dt.timedelta(days=3)))
    frame = acc.to_polars(ended.select("name", "end_date", "discount_pct", "category").order_by(ibis.desc("end_date")))
    out = []
    for r in frame.iter_rows(named=True):
        scope = f" on {r['category']}" if r["category"] else ""
        out.append(Cause("campaign_end", f"Campaign {r['name']} ended",
                         f"{r['name']} ({r['discount_pct']:.0f}% off{scope}) ended on {r['end_date']}",
                         # Expected values already leave promotion days out, so an ended campaign explains a
                         # drop only modestly: a hint to check, never stronger than clear evidence.
                         round(min(0.4, 0.1 + r["discount_pct"] / 200), 3)))
    return out


def _funnel_causes(frames: Frames, inc: Incident) -> list[Cause]:
    acc = frames.access
    e = facts.table(acc, "interactions")
    start0 = inc.start - dt.timedelta(days=BASELINE_DAYS)
    e = e.filter((e.merchant_id == frames.merchant_id) & (e.event_ts >= start0) & (e.event_ts < inc.end))
    per = e.group_by("session_id").aggregate(
        first=e.event_ts.min(), **{s: (e.event_type == s).any().cast("int64") for s in ("cart", "checkout", "purchase")})
    per = per.mutate(now=per.first >= inc.start)
    frame = acc.to_polars(per.group_by("now").aggregate(
        sessions=per.count(), cart=per["cart"].sum(), checkout=per["checkout"].sum(),
        purchase=per["purchase"].sum()))
    if frame.height < 2:
        return []
    now, before = (frame.filter(pl.col("now") == flag).row(0, named=True) for flag in (True, False))
    worst = None
    for a, b in (("sessions", "cart"), ("cart", "checkout"), ("checkout", "purchase")):
        if now[a] < 10 or not before[a] or not before[b]:
            continue
        r_now, r_before = now[b] / now[a], before[b] / before[a]
        fall = 1 - r_now / r_before
        if worst is None or fall > worst[0]:
            worst = (fall, a, b, r_now, r_before)
    if worst is None or worst[0] < 0.25:
        return []
    fall, a, b, r_now, r_before = worst
    step_words = {"sessions": "visit", "cart": "cart", "checkout": "checkout", "purchase": "purchase"}
    return [Cause("funnel", f"Sessions stop between {step_words[a]} and {step_words[b]}",
                  f"{r_now:.0%} of sessions went from {step_words[a]} to {step_words[b]}, against {r_before:.0%} "
                  f"in the {BASELINE_DAYS} days before", round(min(1.0, fall), 3))]


CAUSES: dict[str, Callable[[Frames, Incident], list[Cause]]] = {
    "dimension": _dimension_causes, "stockout": _stockout_causes, "declines": _decline_causes,
    "campaign_end": _campaign_causes, "funnel": _funnel_causes}


def rank_causes(frames: Frames, inc: Incident) -> tuple[Cause, ...]:
    """Every candidate of ``CAUSES`` for the incident, best first."""
    found = [replace(c, weight=float(c.weight)) for fn in CAUSES.values() for c in fn(frames, inc)]
    return tuple(sorted(found, key=lambda c: (-c.weight, c.kind, c.label)))


def with_causes(frames: Frames, inc: Incident) -> Incident:
    return replace(inc, causes=rank_causes(frames, inc))
