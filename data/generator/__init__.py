"""Seeded, deterministic demo warehouse with planted ground truth.

    from data.generator import generate, SIZES
    report = generate(path, size="demo", seed=42)   # -> GenerationReport(rows per table, seconds)

The same (size, seed, end_date) always gives the same rows: every part of every
merchant draws from its own numpy Generator seeded by (seed, merchant, part)
(see merchant.PARTS). Observed tables go to ``main``; what was planted goes to
``truth``. The file is built beside ``path`` (``<name>.building``) and moved into
place with os.replace only when complete.

What is planted, and where it shows:
- calendar.py: weekday, yearly (Christmas run-up, Black Friday), public holidays of
  the merchant's country from `holidays` (Christmas Day and New Year's Day cut
  demand, other holidays lift it), payday (last two and first day of a month),
  trend and promotions -> truth.calendar_effects, truth.promotion_effects.
- customers.py / orders.py: value tiers with purchase rates, signup cohorts, churn
  -> truth.customer_profiles; orders follow the calendar as Poisson processes.
  calendar_effects.expected_orders = the calendar factors x the active customers'
  rates + guests + acquisition orders on that day's (realised) signups.
- catalogue.py / baskets.py: launches (no sale before launch_date), bundles
  -> truth.bundles, category promotions that pull lines into their category.
- inventory.py: daily stock at each merchant's one warehouse, reorder-point
  replenishment, supplier disruptions -> truth.stockouts, truth.demand_daily
  (lost_units). Inventory covers the whole window for every size.
- fraud.py / payments.py: five fraud patterns, chargebacks 2-10 weeks later (none
  yet for the newest) -> truth.fraud.
- signals.py: card fingerprints, device ids, /24 networks, email domains and
  auth results of the payments (schema 4), from a stream of their own drawn
  last, so every other table is the same with or without them.
- incidents.py: regional payment outages and site-wide bad days -> truth.incidents.
- outages.py: the buyers a payment outage turned away tried to pay: a cancelled
  order each, with 1-3 payments failed at the processor (auth_result
  `declined_processing_error`), from a stream of their own drawn last.
- deliveries.py: carrier x region delays -> truth.delivery_delays.
- funnel.py: view/cart/checkout/purchase sessions; only web and app orders have a
  session (interactions.channel is `web` or `app`), so purchases = web+app orders
  (failed checkouts have no session).

main.imports gets one row per merchant (imports.merchant_id is required), source
``generator:<size>:seed=<seed>``. Orders are `sale` documents; a sent-back order
has status `returned` (no separate return document).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data import rollups, schema
from data.generator.calendar import window
from data.generator.incidents import plan_incidents
from data.generator.merchant import MerchantJob, build_merchant
from data.generator.sizes import PROFILES, SIZES, SizeSpec
from data.generator.writer import Nullable, Writer
from data.warehouse import open_for_loading

__all__ = ["GenerationReport", "SIZES", "generate"]

DEFAULT_END_DATE = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class GenerationReport:
    path: Path
    size: str
    seed: int
    start_date: dt.date
    end_date: dt.date
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)  # qualified table name -> rows written

    @property
    def orders(self) -> int:
        return self.rows.get("main.orders", 0)


def _building_path(path: Path) -> Path:
    return path.with_name(path.name + ".building")


def _remove(p: Path) -> None:
    for q in (p, p.with_name(p.name + ".wal")):
        if q.exists():
            q.unlink()


def generate(path: Path | str, size: str = "demo", seed: int = 42, progress: bool = True,
             end_date: dt.date = DEFAULT_END_DATE, overwrite: bool = False) -> GenerationReport:
    """Build a complete warehouse at ``path`` and return what was written (rows per table, seconds).

    Raises FileExistsError if ``path`` exists and ``overwrite`` is false, ValueError for an unknown size.
    """
    began = time.perf_counter()
    path = Path(path)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    spec: SizeSpec = SIZES[size]
    start, end = window(end_date, spec.months)
    profiles = [PROFILES[k] for k in spec.profiles]
    incidents = tuple(plan_incidents(profiles, start, end, spec.months, np.random.default_rng([seed, 0, 99])))
    jobs = [MerchantJob(m, prof, spec, start, end, seed, incidents) for m, prof in enumerate(profiles, start=1)]

    building = _building_path(path)
    _remove(building)
    con = open_for_loading(building)
    writer = None
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET checkpoint_threshold = '50GB'")
        writer = Writer(con, background=True)
        with tqdm(total=len(jobs), desc=f"generating {size}", unit="merchant", disable=not progress) as bar:
            for job in jobs:
                def emit(table: str, columns: dict, name: str = job.profile.name) -> None:
                    bar.set_postfix_str(f"{name}: {table}", refresh=True)
                    writer.append(table, columns)

                build_merchant(job, emit)
                bar.update(1)
        _write_incidents(writer, incidents)
        writer.close()
        _finish(con, writer, size, seed, end, len(jobs))
        con.execute("CHECKPOINT")
    except BaseException:
        try:
            if writer is not None:
                writer.close()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        con.close()
        _remove(building)
        raise
    con.close()
    stale_wal = path.with_name(path.name + ".wal")
    if stale_wal.exists():  # an old warehouse's log must not be replayed onto the new file
        stale_wal.unlink()
    os.replace(building, path)
    return GenerationReport(path, size, seed, start, end, round(time.perf_counter() - began, 2),
                            {k: v for k, v in writer.rows.items()})


def _write_incidents(writer: Writer, incidents) -> None:
    writer.append("truth.incidents", {
        "incident_id": np.array([i.incident_id for i in incidents]),
        "merchant_id": Nullable(np.array([i.merchant_id or 0 for i in incidents]),
                                np.array([i.merchant_id is None for i in incidents])),
        "kind": [i.kind for i in incidents], "region": [i.region for i in incidents],
        "start_ts": np.array([i.start for i in incidents], dtype="datetime64[us]"),
        "end_ts": np.array([i.end for i in incidents], dtype="datetime64[us]"),
        "order_factor": np.array([i.order_factor for i in incidents]),
    })


def _finish(con, writer: Writer, size: str, seed: int, end: dt.date, n_merchants: int) -> None:
    """Meta keys, one imports row per merchant (imports.merchant_id is required), rollups, data version."""
    con.execute("BEGIN TRANSACTION")
    try:
        schema.set_meta(con, "generator_seed", str(seed))
        schema.set_meta(con, "generator_size", size)
        schema.set_meta(con, "data_as_of", end.isoformat())
        lines = dict(con.execute("SELECT merchant_id, count(*) FROM main.order_lines GROUP BY 1").fetchall())
        for m in range(1, n_merchants + 1):
            con.execute(
                "INSERT INTO main.imports VALUES (?, ?, ?, 'generator', ?, 0, now() AT TIME ZONE 'UTC')",
                [str(uuid.uuid4()), m, f"generator:{size}:seed={seed}", int(lines.get(m, 0))],
            )
            writer.rows["main.imports"] += 1
        rollups.refresh(con)
        for name in rollups.TABLES:  # the report lists rows per table; these are written here, not by the writer
            writer.rows[f"main.{name}"] = con.execute(f"SELECT count(*) FROM main.{name}").fetchone()[0]
        schema.bump_data_version(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
