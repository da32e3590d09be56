"""Planted per-day demand multipliers of one merchant, and its promotions.

Every order stream of a merchant is drawn with intensity proportional to
``Calendar.factor`` (weekday x yearly x holiday x payday x trend x promotion),
so each of these effects is visible in the observed orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np

from data.generator.sizes import MerchantProfile

# Holidays on which shops close and carriers stop: demand falls. Other public holidays lift online demand.
CLOSURE_HOLIDAYS = ("Christmas Day", "New Year's Day")
CLOSURE_FACTOR = 0.5
HOLIDAY_UPLIFT = 1.35
PAYDAY_FACTOR = 1.2  # last two days and first day of each month
MIDMONTH_FACTOR = 1.05  # the 15th (semi-monthly pay)

AUDIENCES = ("all", "new", "returning")
PROMO_CHANNELS = ("web", "app")


@dataclass
class Promotions:
    start: np.ndarray  # day index, inclusive
    end: np.ndarray  # day index, inclusive
    discount_pct: np.ndarray
    category: np.ndarray  # category code, -1 for the whole catalogue
    audience: np.ndarray  # index into AUDIENCES
    channel: np.ndarray  # index into PROMO_CHANNELS, -1 for all
    uplift: np.ndarray  # planted demand multiplier in scope
    names: list[str]

    def __len__(self) -> int:
        return len(self.start)

    def day_index(self, n_days: int) -> np.ndarray:
        """Promotion number running on each day, -1 if none (promotions never overlap)."""
        out = np.full(n_days, -1, dtype=np.int32)
        for i in range(len(self)):
            out[self.start[i]: self.end[i] + 1] = i
        return out


@dataclass
class Calendar:
    start: dt.date
    days: np.ndarray  # datetime64[D]
    weekday: np.ndarray  # 0 = Monday
    weekday_factor: np.ndarray
    yearly_factor: np.ndarray
    holiday_factor: np.ndarray
    holiday_name: list[str | None]
    payday_factor: np.ndarray
    trend_factor: np.ndarray
    promo_factor: np.ndarray
    promotions: Promotions
    promo_of_day: np.ndarray  # promotion number per day, -1 if none

    @property
    def n_days(self) -> int:
        return len(self.days)

    @property
    def factor(self) -> np.ndarray:
        return (self.weekday_factor * self.yearly_factor * self.holiday_factor * self.payday_factor
                * self.trend_factor * self.promo_factor)


def window(end_date: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """First and last day of a window of whole months ending on end_date's month."""
    year, month = end_date.year, end_date.month - months + 1
    while month <= 0:
        month += 12
        year -= 1
    return dt.date(year, month, 1), end_date


def _black_friday(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def _yearly(profile: MerchantProfile, days: np.ndarray) -> np.ndarray:
    years = days.astype("datetime64[Y]")
    doy = (days - years.astype("datetime64[D]")).astype(np.int64)
    smooth = 1.0 + profile.yearly_amplitude * np.cos(2 * np.pi * (doy - profile.yearly_peak_doy) / 365.25)
    # Pre-Christmas run-up (peaks mid December) and the January lull after it.
    dec = profile.december_boost * np.exp(-0.5 * ((doy - 345) / 11.0) ** 2)
    dec[doy > 358] *= 0.25
    out = smooth + dec
    for year in np.unique(years.astype(np.int64) + 1970):
        bf = np.datetime64(_black_friday(int(year)))
        for offset, share in ((0, 1.0), (3, 0.7), (1, 0.35), (2, 0.35), (-1, 0.2)):
            out[days == bf + np.timedelta64(offset, "D")] += profile.black_friday_boost * share
    return out


SEASON_THEMES = {12: "Winter Sale", 1: "January Sale", 2: "Winter Sale", 3: "Spring Offer", 4: "Spring Offer",
                 5: "Spring Offer", 6: "Summer Sale", 7: "Summer Sale", 8: "Summer Sale", 9: "Autumn Deals",
                 10: "Autumn Deals", 11: "Autumn Deals"}
ANYTIME_THEMES = ("Flash Sale", "Weekend Deal", "Members Week", "Clearance")


def _promotions(profile: MerchantProfile, start: dt.date, n_days: int, rng: np.random.Generator) -> Promotions:
    starts, ends = [], []
    day = int(rng.integers(3, 20))
    while day < n_days - 3:
        length = int(rng.integers(3, 11))
        starts.append(day)
        ends.append(min(day + length - 1, n_days - 1))
        day += length + int(rng.integers(12, 35))
    n = len(starts)
    pct = rng.choice(np.array([10.0, 15.0, 20.0, 25.0, 30.0]), size=n)
    whole = rng.random(n) < 0.45
    category = np.where(whole, -1, rng.integers(0, len(profile.categories), size=n))
    audience = rng.choice(3, size=n, p=[0.8, 0.1, 0.1])
    channel = np.where(rng.random(n) < 0.85, -1, rng.integers(0, 2, size=n))
    uplift = 1.0 + pct / 100.0 * rng.uniform(1.5, 3.0, size=n)
    names = []
    for i in range(n):
        scope = "All" if category[i] < 0 else profile.categories[category[i]].title()
        month = (start + dt.timedelta(days=int(starts[i]))).month
        theme = SEASON_THEMES[month] if rng.random() < 0.5 else ANYTIME_THEMES[int(rng.integers(len(ANYTIME_THEMES)))]
        names.append(f"{theme} {int(pct[i])}% {scope} #{i + 1}")
    return Promotions(np.array(starts, dtype=np.int32), np.array(ends, dtype=np.int32), pct,
                      category.astype(np.int32), audience.astype(np.int32), channel.astype(np.int32), uplift, names)


def promo_scope_share(promos: Promotions, category_share: np.ndarray, channel_mix: tuple[float, ...]) -> np.ndarray:
    """Share of a day's demand each promotion applies to (category x audience x channel)."""
    share = np.where(promos.category < 0, 1.0, category_share[np.maximum(promos.category, 0)])
    share = share * np.where(promos.audience == 0, 1.0, 0.5)
    return share * np.where(promos.channel < 0, 1.0, np.asarray(channel_mix)[np.maximum(promos.channel, 0)])


def build_calendar(profile: MerchantProfile, start: dt.date, end: dt.date, category_share: np.ndarray,
                   rng: np.random.Generator) -> Calendar:
    """The planted multipliers for every day from start to end (inclusive)."""
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1, dtype="datetime64[D]")
    n = len(days)
    weekday = ((days.astype(np.int64) + 3) % 7).astype(np.int8)
    wk = np.asarray(profile.weekday)
    weekday_factor = (wk / wk.mean())[weekday]
    yearly_factor = _yearly(profile, days)

    cal = holidays.country_holidays(profile.country, years=range(start.year, end.year + 1))
    holiday_factor = np.ones(n)
    names: list[str | None] = [None] * n
    for i, d in enumerate(days.astype(dt.date)):
        name = cal.get(d)
        if name:
            names[i] = name
            holiday_factor[i] = CLOSURE_FACTOR if any(c in name for c in CLOSURE_HOLIDAYS) else HOLIDAY_UPLIFT

    month_start = days.astype("datetime64[M]").astype("datetime64[D]")
    dom = (days - month_start).astype(np.int64) + 1
    next_month = (days.astype("datetime64[M]") + 1).astype("datetime64[D]")
    to_end = (next_month - days).astype(np.int64)  # 1 on the last day of the month
    payday_factor = np.where((dom == 1) | (to_end <= 2), PAYDAY_FACTOR, np.where(dom == 15, MIDMONTH_FACTOR, 1.0))
    years_in = np.arange(n) / 365.25
    trend_factor = np.exp(profile.growth_per_year * years_in)

    promos = _promotions(profile, start, n, rng)
    promo_of_day = promos.day_index(n)
    share = promo_scope_share(promos, category_share, profile.channel_mix)
    promo_factor = np.ones(n)
    on = promo_of_day >= 0
    promo_factor[on] = 1.0 + share[promo_of_day[on]] * (promos.uplift[promo_of_day[on]] - 1.0)
    return Calendar(start, days, weekday, weekday_factor, yearly_factor, holiday_factor, names, payday_factor,
                    trend_factor, promo_factor, promos, promo_of_day)
