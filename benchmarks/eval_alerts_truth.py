"""Alert detection against the planted truth at the 10M-order size (truth.incidents of bench.duckdb).

Usage: python benchmarks/eval_alerts_truth.py [warehouse] [ordinary days per merchant] [seed]

Every check is what ``python -m models alerts check --until U --hours 24`` runs for one merchant: hourly,
``find_incidents(access, m, since=U - 24 h, until=U)`` with the default rules (``rules=None``), on a read-only
warehouse, scoped to that merchant.

- Planted incidents (a site-wide bad day counts once per merchant): one check with ``U`` the midnight after the
  planted end (the check that covers the planted hours); detected when an incident of the merchant overlaps the
  planted hours: one of its flags is an hour in [start, end + 2 h) whose window began before the end. Delay = end
  of the first such flagged hour - planted start.
  Ranked first: the strongest matching incident's first cause names the planted region (a "dimension" cause, or
  payments failing at the processor in that region) or, for a bad day, starts with "Site-wide".
- False incidents: ``days`` random ordinary days per merchant (seeded; at least 90 days of history; no planted
  incident of that merchant within a day), one 24-hour check each. Incidents on hours with planted card-testing
  bursts (truth.fraud) are real events and counted apart. Per merchant per month = false incidents / checked
  merchant-days x 30.44 (every incident of a day is counted once, by its own 24-hour check).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from data.access import DataAccess, Scope  # noqa: E402
from models.alerts.incidents import find_incidents  # noqa: E402

SLACK = dt.timedelta(hours=2)
DAY = dt.timedelta(days=1)


def check(con, merchant: int, until: dt.datetime):
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([merchant]))
    return find_incidents(access, merchant, since=until - DAY, until=until)


def card_testing(con) -> dict[int, set[dt.datetime]]:
    out: dict[int, set[dt.datetime]] = {}
    for m, h in con.execute("SELECT DISTINCT p.merchant_id, date_trunc('hour', p.paid_ts) FROM truth.fraud f "
                            "JOIN payments p USING (payment_id) WHERE f.pattern = 'card_testing'").fetchall():
        out.setdefault(m, set()).add(h)
    return out


def ranked_first(incident, planted: dict) -> tuple[bool, str]:
    top = incident.causes[:1]
    label = top[0].label if top else "no cause"
    if planted["region"]:
        return bool(top) and top[0].kind in ("dimension", "declines") and planted["region"] in label, label
    return bool(top) and label.startswith("Site-wide"), label


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "bench_out/bench.duckdb"
    per_merchant = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 11
    con = duckdb.connect(path, read_only=True)
    merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    truth = con.execute("SELECT incident_id, merchant_id, kind, region, start_ts, end_ts FROM truth.incidents "
                        "ORDER BY incident_id").fetchall()
    truth = [dict(zip(("id", "merchant", "kind", "region", "start", "end"), r)) for r in truth]
    first, last = con.execute("SELECT min(order_ts), max(order_ts) FROM orders").fetchone()
    print(f"warehouse {path}; {len(merchants)} merchants; load {os.getloadavg()}")
    started = time.perf_counter()

    detected, delays, ranks, rows = 0, [], [], []
    planted = [(m, r) for r in truth for m in ([r["merchant"]] if r["merchant"] is not None else merchants)]
    for m, r in planted:
        until = dt.datetime.combine((r["end"] - dt.timedelta(microseconds=1)).date(), dt.time()) + DAY
        t = time.perf_counter()
        found = check(con, m, until)
        # Incidents with a flag inside the planted hours (an earlier incident that only touches them is another).
        inside = lambda a: r["start"] <= a.ts < r["end"] + SLACK and a.onset < r["end"]  # noqa: E731
        hits = [i for i in found if any(inside(a) for a in i.anomalies)]
        row = f"  #{r['id']:<2} merchant {m} {r['kind']:<14} {r['region'] or '-':<22} {r['start']:%Y-%m-%d %H:%M}"
        if hits:
            detected += 1
            head = min((a for i in hits for a in i.anomalies if inside(a)), key=lambda a: a.ts)
            delay = (head.ts + dt.timedelta(hours=1) - r["start"]).total_seconds() / 3600
            delays.append(delay)
            ok, label = ranked_first(max(hits, key=lambda i: i.score), r)
            ranks.append(ok)
            row += f"  found, delay {delay:.0f} h, lead {head.metric}/{head.dimension}, first cause: {label}"
        else:
            row += f"  MISSED ({len(found)} other incidents that day)"
        print(row + f"  [{time.perf_counter() - t:.1f} s]", flush=True)

    rng = random.Random(seed)
    lo = dt.datetime.combine(first.date(), dt.time()) + dt.timedelta(days=90)
    hi = dt.datetime.combine(last.date(), dt.time())
    fraud = card_testing(con)
    false, explained, checked, by_lead = 0, 0, 0, {}
    for m in merchants:
        busy = [(r["start"] - DAY, r["end"] + DAY) for r in truth if r["merchant"] in (None, m)]
        days: list[dt.datetime] = []
        while len(days) < per_merchant:
            until = lo + DAY * rng.randrange((hi - lo).days)
            if until not in days and not any(a < until and b > until - DAY for a, b in busy):
                days.append(until)
        for until in sorted(days):
            found = check(con, m, until)
            checked += 1
            for i in found:
                if any(i.start - SLACK <= h < i.end for h in fraud.get(m, ())):
                    explained += 1
                    continue
                false += 1
                lead = f"{i.metric}/{i.dimension}/{i.direction}"
                by_lead[lead] = by_lead.get(lead, 0) + 1
            print(f"  ordinary day merchant {m} {until - DAY:%Y-%m-%d}: {len(found)} incidents", flush=True)

    print(f"\ndetected {detected} of {len(planted)} planted ({detected / len(planted):.0%}; target >= 90%)")
    if delays:
        print(f"delay (end of first flagged hour - planted start): median {statistics.median(delays):.1f} h, "
              f"max {max(delays):.1f} h (target median <= 2 h)")
        print(f"planted region / site-wide ranked first: {sum(ranks)} of {len(ranks)} "
              f"({sum(ranks) / len(ranks):.0%}; target >= 80%)")
    rate = false / checked * 30.44 if checked else float("nan")
    print(f"false incidents: {false} on {checked} ordinary merchant-days (+{explained} on card-testing bursts) "
          f"= {rate:.2f} per merchant per month (x 30.44 days; target <= 1); by lead series: {by_lead}")
    print(f"total {time.perf_counter() - started:.0f} s; load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
