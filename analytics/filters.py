"""The dashboard's shared filters, as one frozen (hashable) value, and the date presets.

``Filters`` is the cache key of every analytics call: two equal selections give
equal (and equally hashed) values because the tuples are normalised (duplicates
dropped, sorted) on construction. Dates are calendar days in the merchant's
local time; ``end`` is inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

# Same period last year, aligned by weekday: 52 weeks back, so a Monday compares with a Monday.
LAST_YEAR_DAYS = 364


def _normalise(name: str, values: Iterable[object], kind: type) -> tuple:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of {kind.__name__}, not a single string")
    out = tuple(values)
    for v in out:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise TypeError(f"{name} values must be {kind.__name__}, got {v!r}")
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class Filters:
    """What the person selected. An empty tuple means "no restriction" on that dimension.

    - ``start``, ``end``: first and last day (inclusive) of the period, by order date.
    - ``regions``: region of the order: where it was shipped (``orders.shipping_region``), else, for
      in-store sales, the region of the store (``stores.region``).
    - ``store_ids``: selling location (``orders.store_id``).
    - ``categories``: product category (``products.category``); restricts lines, and orders to those
      holding at least one line of the categories.
    - ``channels``: ``orders.channel`` (and ``interactions.channel`` for conversion).
    - ``payment_methods``: ``orders.payment_method``.
    """

    start: dt.date
    end: dt.date
    regions: tuple[str, ...] = ()
    store_ids: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    payment_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            # datetime is a date subclass; a time of day would silently shift the period.
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise TypeError(f"{name} must be a datetime.date, got {value!r}")
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        for f in fields(self):
            if f.name in ("start", "end"):
                continue
            kind = int if f.name == "store_ids" else str
            object.__setattr__(self, f.name, _normalise(f.name, getattr(self, f.name), kind))

    @property
    def days(self) -> int:
        """Length of the period in days (both ends included)."""
        return (self.end - self.start).days + 1

    def shifted(self, days: int) -> Filters:
        """The same selection with the period moved ``days`` days (negative = earlier)."""
        delta = dt.timedelta(days=days)
        return replace(self, start=self.start + delta, end=self.end + delta)

    def previous_period(self) -> Filters:
        """The period of equal length that ends the day before ``start``."""
        return self.shifted(-self.days)

    def last_year(self) -> Filters:
        """The same period 364 days earlier (same weekdays, so weekly patterns line up)."""
        return self.shifted(-LAST_YEAR_DAYS)

    def comparison(self, kind: str | int) -> Filters:
        """``previous_period()`` for ``"previous"``, ``last_year()`` for ``"last_year"``; an int shifts the
        period that many days (negative = earlier), e.g. ``analytics.events.Event.shift_days`` so an event's
        day last year lines up with this year's."""
        if kind == "previous":
            return self.previous_period()
        if kind == "last_year":
            return self.last_year()
        if isinstance(kind, int) and not isinstance(kind, bool):
            return self.shifted(kind)
        raise ValueError(f"unknown comparison {kind!r}; use 'previous', 'last_year' or a number of days")


PRESETS: dict[str, str] = {
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "last_90": "Last 90 days",
    "month_to_date": "Month to date",
    "quarter_to_date": "Quarter to date",
    "year_to_date": "Year to date",
}


def compute_period(preset: str, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """(start, end) of a date preset ending on ``as_of`` (inclusive), e.g. the last data day."""
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if preset.startswith("last_") and preset in PRESETS:
        return as_of - dt.timedelta(days=int(preset.removeprefix("last_")) - 1), as_of
    if preset == "month_to_date":
        return as_of.replace(day=1), as_of
    if preset == "quarter_to_date":
        return dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1), as_of
    if preset == "year_to_date":
        return dt.date(as_of.year, 1, 1), as_of
    raise ValueError(f"unknown date preset {preset!r}; known: {', '.join(PRESETS)}")
