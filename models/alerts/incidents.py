"""Incidents: anomalies that belong together (same or adjacent hours, related dimensions), with their causes.

The public surface the delivery job and the Alerts page code against:

- ``Incident`` and ``Cause`` (frozen dataclasses; ``Anomaly`` is one flagged point of one series);
- ``find_incidents(access, merchant_id, since=, until=, rules=, grain=)``: the incidents whose anomalies fall in
  ``[since, until)``, most severe first;
- ``metric_band(...)``: one series with its expected value and band, for the incident chart;
- ``dimension_breakdown(...)``: observed against expected per value of a dimension, for the drill-down.

``Incident.key`` is stable: it is made from the merchant, the grain, the metric of the incident's first anomaly
and the hour (or day) that anomaly was flagged. A flag at hour t depends only on data up to t and a baseline
from the weeks before t's day, so re-running detection later finds the same first flag and the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import polars as pl

from data.access import DataAccess

DIRECTIONS = ("drop", "spike")


@dataclass(frozen=True)
class Cause:
    """One candidate explanation of an incident. ``label`` and ``evidence`` are plain text (data names inside
    are not markup: escape them where they are shown); ``weight`` in [0, 1], higher ranks first."""

    kind: str  # "dimension", "stockout", "declines", "campaign_end", "funnel", "combined"
    label: str
    evidence: str
    weight: float


@dataclass(frozen=True)
class Anomaly:
    """One flagged point of one series: ``ts`` is the hour (or day) flagged; the values are the window summed
    over ``window`` periods ending at ``ts`` (window 1: the hour itself; 0: flagged by the combined detector,
    PyOD on all metrics at once, where ``score`` is its ECOD score over the highest training score). ``score`` is the robust residual
    score (positive, larger is stranger); ``probability`` the tail probability of an observation this far off."""

    merchant_id: int
    metric: str
    dimension: str  # "total", "region", "category", "channel", "payment_method"
    dimension_value: str | None  # None for "total"
    ts: dt.datetime
    window: int
    observed: float
    expected: float
    low: float
    high: float
    score: float
    probability: float
    direction: str  # "drop" or "spike"
    grain: str = "hour"

    @property
    def onset(self) -> dt.datetime:
        """First period of the window that was flagged."""
        step = dt.timedelta(hours=1) if self.grain == "hour" else dt.timedelta(days=1)
        return self.ts - step * (max(self.window, 1) - 1)


@dataclass(frozen=True)
class Incident:
    """A group of anomalies of one merchant, led by its strongest series.

    ``metric``/``dimension``/``dimension_value``/``direction`` are the lead series'; ``start`` is the onset of
    the earliest member window, ``end`` the last period flagged plus one period (exclusive); ``observed``,
    ``expected``, ``low`` and ``high`` are the lead series summed over ``[start, end)`` (a rate metric: its
    value over that span). ``score`` is the lead anomaly's score. ``detected_at`` is the first period flagged
    (what ``key`` is made from). ``causes`` are ranked, best first."""

    merchant_id: int
    key: str
    metric: str
    dimension: str
    dimension_value: str | None
    direction: str
    start: dt.datetime
    end: dt.datetime
    observed: float
    expected: float
    low: float
    high: float
    score: float
    anomalies: tuple[Anomaly, ...]
    causes: tuple[Cause, ...]
    grain: str = "hour"
    detected_at: dt.datetime | None = None


def incident_key(merchant_id: int, metric: str, detected_at: dt.datetime, grain: str = "hour") -> str:
    """Stable id of an incident: 16 hex digits of a hash of merchant, grain, metric and first flagged period."""
    text = f"{int(merchant_id)}|{grain}|{metric}|{detected_at.isoformat(timespec='minutes')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_incidents(access: DataAccess, merchant_id: int, *, since: dt.datetime, until: dt.datetime,
                   rules=None, grain: str = "hour", detector: bytes | None = None) -> list[Incident]:
    """Incidents of ``merchant_id`` whose anomalies are flagged in ``[since, until)`` (whole periods only),
    most severe first. ``rules``: a sequence of ``WatchRule`` (None: ``watch.DEFAULT_RULES``); ``detector``: the
    payload of a saved ``anomaly_detector`` model (None: fitted on the history read)."""
    from models.alerts import grouping

    return grouping.find_incidents(access, merchant_id, since=since, until=until, rules=rules, grain=grain,
                                   detector=detector)


def metric_band(access: DataAccess, merchant_id: int, metric: str, dimension: str, value: str | None,
                since: dt.datetime, until: dt.datetime, grain: str = "hour") -> pl.DataFrame:
    """One series over ``[since, until)``: columns ``ts`` (period start), ``observed``, ``expected``, ``low``,
    ``high`` (the band outside which a point is flagged at the default sensitivity), in the metric's unit."""
    from models.alerts import grouping

    return grouping.metric_band(access, merchant_id, metric, dimension, value, since, until, grain)


def dimension_breakdown(access: DataAccess, merchant_id: int, metric: str, dimension: str,
                        since: dt.datetime, until: dt.datetime, grain: str = "hour") -> pl.DataFrame:
    """Each value of ``dimension`` over ``[since, until)``: ``value``, ``observed``, ``expected``, ``difference``
    (observed - expected), ``share`` (its part of the total difference, 0-1, of the same sign as the total),
    sorted by how much of the difference it explains."""
    from models.alerts import grouping

    return grouping.dimension_breakdown(access, merchant_id, metric, dimension, since, until, grain)
