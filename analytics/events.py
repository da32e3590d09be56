"""Retail events and public holidays, for comparisons aligned on the event's day.

"Same days 52 weeks earlier" lines up weekdays, but events move: Easter falls on 20 Apr 2025 and 5 Apr
2026, Black Friday on 28 Nov 2025 and 27 Nov 2026, Christmas on a different weekday each year. An event
comparison shifts the period so last year's event day lines up with this year's (``Event.shift_days``,
for ``Filters.comparison``). Public holidays come from the ``holidays`` library for the merchants'
countries. Pure functions: no query, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import holidays
from dateutil.easter import easter


@dataclass(frozen=True)
class Event:
    """One occurrence of an event: ``day`` this year, ``last_year_day`` the same event a year before.

    ``first``..``last`` is the event's window (a period touching it offers the comparison);
    ``shift_days`` (negative) moves a period so ``day`` lands on ``last_year_day``.
    """

    key: str
    name: str
    day: dt.date
    first: dt.date
    last: dt.date
    last_year_day: dt.date

    @property
    def shift_days(self) -> int:
        return (self.last_year_day - self.day).days

    @property
    def label(self) -> str:
        """"Black Friday week 2026 (27 Nov) vs 2025 (28 Nov)"."""
        return (f"{self.name} {self.day.year} ({self.day:%d %b}) vs {self.last_year_day.year} "
                f"({self.last_year_day:%d %b})")


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November (US Thanksgiving)."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def easter_sunday(year: int) -> dt.date:
    """Western (Gregorian) Easter Sunday."""
    return easter(year)


def christmas(year: int) -> dt.date:
    return dt.date(year, 12, 25)


@dataclass(frozen=True)
class RetailEvent:
    key: str
    name: str
    day: Callable[[int], dt.date]
    before: int  # window: days before the event's day
    after: int  # and after it


# The events every merchant gets, whatever its country.
RETAIL_EVENTS: tuple[RetailEvent, ...] = (
    RetailEvent("black_friday", "Black Friday week", black_friday, 4, 3),  # Monday to Cyber Monday
    RetailEvent("christmas", "Christmas", christmas, 1, 1),  # Christmas Eve to Boxing Day
    RetailEvent("easter", "Easter", easter_sunday, 2, 1),  # Good Friday to Easter Monday
)


def _retail(event: RetailEvent, year: int) -> Event:
    day = event.day(year)
    return Event(event.key, event.name, day, day - dt.timedelta(days=event.before),
                 day + dt.timedelta(days=event.after), event.day(year - 1))


@lru_cache(maxsize=256)
def country_holidays(country: str, year: int) -> tuple[tuple[dt.date, str], ...]:
    """(first day, name) of each public holiday of ``country`` in ``year`` (a holiday lasting several days
    counts once, on its first day); empty for a country the library does not know."""
    try:
        table = holidays.country_holidays(country, years=[year])
    except NotImplementedError:
        return ()
    first: dict[str, dt.date] = {}
    for day, names in sorted(table.items()):
        for name in names.split("; "):  # the library joins holidays falling on the same day with "; "
            first.setdefault(name, day)
    return tuple(sorted((day, name) for name, day in first.items()))


def _holiday_events(country: str, year: int) -> list[Event]:
    last_year = dict((name, day) for day, name in country_holidays(country, year - 1))
    out = []
    for day, name in country_holidays(country, year):
        if name in last_year:  # a holiday new this year has nothing to line up with
            out.append(Event(f"holiday:{country}:{name}", f"{name} ({country})", day, day, day, last_year[name]))
    return out


def events_in_period(start: dt.date, end: dt.date, countries: Iterable[str] = ()) -> list[Event]:
    """Events whose window overlaps ``start``..``end``: the retail events, then the public holidays of
    ``countries`` (ISO codes; unknown ones are skipped), sorted by day then name.

    A holiday falling inside a retail event's window that is also listed (Christmas Day, Good Friday)
    is left out: it would offer the same comparison twice under two names.
    """
    found: list[Event] = []
    for year in range(start.year, end.year + 1):
        for event in RETAIL_EVENTS:
            e = _retail(event, year)
            if e.first <= end and e.last >= start:
                found.append(e)
    retail = list(found)
    for country in sorted(set(countries)):
        for year in range(start.year, end.year + 1):
            for e in _holiday_events(country, year):
                inside = start <= e.day <= end
                shadowed = any(r.first <= e.day <= r.last for r in retail)
                if inside and not shadowed:
                    found.append(e)
    return sorted(found, key=lambda e: (e.day, e.name))
