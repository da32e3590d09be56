"""Planted incidents: regional payment outages (one merchant, some hours) and site-wide bad days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np

from data.generator.geo import region_table
from data.generator.sizes import MerchantProfile


@dataclass(frozen=True)
class Incident:
    incident_id: int
    merchant_id: int | None  # None: every merchant
    kind: str  # payment_outage | bad_day
    region: str | None  # None: every region
    start: dt.datetime
    end: dt.datetime
    order_factor: float  # share of orders that still came in


def _quiet_days(profiles: list[MerchantProfile], start: dt.date, end: dt.date) -> list[dt.date]:
    """Days fit for an incident: no holiday anywhere, not in the Christmas run-up, not at the edges."""
    years = range(start.year, end.year + 1)
    hol = set()
    for p in profiles:
        hol |= set(holidays.country_holidays(p.country, years=years))
    out = []
    d = start + dt.timedelta(days=35)
    while d <= end - dt.timedelta(days=35):
        if d not in hol and not (d.month == 11 and d.day >= 15) and d.month != 12:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def plan_incidents(profiles: list[MerchantProfile], start: dt.date, end: dt.date, months: int,
                   rng: np.random.Generator) -> list[Incident]:
    days = _quiet_days(profiles, start, end)
    per_year = max(1, round(months / 12))
    picks = rng.choice(len(days), size=per_year * (len(profiles) + 1), replace=False)
    picks = [days[i] for i in sorted(picks)]
    rng.shuffle(picks)
    out: list[Incident] = []
    k = 0
    for m, profile in enumerate(profiles, start=1):
        regions, _, _ = region_table(profile.country)  # biggest regions first
        for _ in range(per_year):
            day = picks[k]
            k += 1
            region = regions[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
            hour = int(rng.integers(9, 15))
            length = int(rng.integers(5, 10))
            begin = dt.datetime.combine(day, dt.time(hour))
            out.append(Incident(0, m, "payment_outage", region, begin, begin + dt.timedelta(hours=length),
                                round(float(rng.uniform(0.05, 0.2)), 3)))
    for _ in range(per_year):
        day = picks[k]
        k += 1
        begin = dt.datetime.combine(day, dt.time(7))
        out.append(Incident(0, None, "bad_day", None, begin, begin + dt.timedelta(hours=16),
                            round(float(rng.uniform(0.35, 0.5)), 3)))
    out.sort(key=lambda i: i.start)
    return [Incident(n, i.merchant_id, i.kind, i.region, i.start, i.end, i.order_factor)
            for n, i in enumerate(out, start=1)]


def keep_mask(incidents: list[Incident], merchant_id: int, start: dt.date, day: np.ndarray, sec: np.ndarray,
              region: np.ndarray, region_names: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which orders survive the incidents (region code -1 = abroad, matches no region), and which of the others
    were lost to a payment outage (their buyers tried to pay and failed: see outages.py)."""
    keep = np.ones(len(day), dtype=bool)
    outage = np.zeros(len(day), dtype=bool)
    origin = dt.datetime.combine(start, dt.time())
    t = day.astype(np.int64) * 86400 + sec
    u = rng.random(len(day))
    for inc in incidents:
        if inc.merchant_id not in (None, merchant_id):
            continue
        lo = int((inc.start - origin).total_seconds())
        hi = int((inc.end - origin).total_seconds())
        hit = (t >= lo) & (t < hi)
        if inc.region is not None:
            hit &= region == region_names.index(inc.region)
        lost = hit & (u >= inc.order_factor)
        keep &= ~lost
        if inc.kind == "payment_outage":
            outage |= lost
    return keep, outage & ~keep
