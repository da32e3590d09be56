"""A page's reads, all through ``dashboard.cache`` with one explicit merchant scope.

``PageData`` only forwards: every call passes the scope it was built with (a subset of
``ctx.scope``, see ``widgets.render_currency_scope``), the context's filters unless a drill narrows
them, and the data version. It also remembers when the oldest result it served was computed,
for the freshness line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics.coverage import data_limits
from analytics.details import DETAILS_BY_KEY
from analytics.filters import Filters
from analytics.periods import DataSpan
from dashboard import cache
from dashboard.context import PageContext


@dataclass(frozen=True)
class Rows:
    """The detail rows behind a figure: how many (counted, cached, when asked) and a loader of all of them."""

    kind: str
    noun: str
    count: Callable[[], int]
    load: Callable[[], pl.DataFrame]


class PageData:
    def __init__(self, ctx: PageContext, scope: tuple[int, ...]):
        if not set(scope) <= set(ctx.scope):
            raise ValueError("a page may narrow the merchant scope, never widen it")
        self.ctx = ctx
        self.scope = tuple(sorted(scope))
        self._computed: list[dt.datetime] = []

    def get(self, name: str, filters: Filters | None = None, **params: Any) -> Any:
        """The value of analytics call ``name`` (cached) for this scope and ``filters`` (default: the page's)."""
        result = cache.query(name, self.scope, filters or self.ctx.filters, self.ctx.data_version, **params)
        self._computed.append(result.computed_at)
        return result.value

    def limits(self) -> dict[str, str]:
        """What this scope's data cannot answer: ``analytics.coverage.data_limits``."""
        return data_limits(cache.data_coverage(self.scope, self.ctx.data_version))

    def span(self) -> DataSpan | None:
        """First and last day with orders of this scope (``analytics.periods.compute_data_span``)."""
        return cache.data_span(self.scope, self.ctx.data_version)

    def rows(self, kind: str, filters: Filters | None = None) -> Rows:
        """Detail ``kind`` (``analytics.details.DETAILS``) behind a figure: counted and loaded on demand."""
        f = filters or self.ctx.filters
        return Rows(kind, DETAILS_BY_KEY[kind].noun, lambda: self.get("detail_count", f, kind=kind),
                    cache.loader("details", self.scope, f, kind=kind))

    def loader(self, name: str, filters: Filters | None = None, **params: Any) -> Callable[[], Any]:
        """Analytics call ``name`` as a function run uncached on demand (e.g. a full download)."""
        return cache.loader(name, self.scope, filters or self.ctx.filters, **params)

    @property
    def computed_at(self) -> dt.datetime | None:
        """When the oldest result served so far was computed (None before any read)."""
        return min(self._computed) if self._computed else None
