"""Unit tests of alert scoring (minimum volume, direction, quiet hours, windows) and of grouping into incidents."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from models.alerts import scoring
from models.alerts.grouping import group_anomalies
from models.alerts.incidents import Anomaly, incident_key
from models.alerts.watch import WatchRule

T0 = dt.datetime(2026, 3, 2)


def _score(y, e, *, direction="both", min_volume=5.0, quiet=None, windows=(1,)):
    y, e = np.asarray(y, float), np.asarray(e, float)
    return scoring.score_series("count", {"y": y}, {"y": e}, e, direction=direction, min_volume=min_volume,
                                quiet=np.zeros(len(y), bool) if quiet is None else np.asarray(quiet),
                                windows=windows)


def test_count_tail_matches_scipy_negative_binomial():
    r = 1 / scoring.DISPERSION
    e = 40.0
    want = stats.nbinom.cdf(20, r, r / (r + e))
    assert scoring.count_tail(np.array([20.0]), np.array([e]), True)[0] == pytest.approx(want)
    assert stats.poisson.cdf(20, e) < want < 10 * stats.poisson.cdf(20, e)  # wider than Poisson, not much


def test_drop_scores_and_direction_filters():
    s = _score([0, 40], [40, 40])
    assert s.score[0] > scoring.threshold(0.5) and s.direction[0] == -1
    assert s.score[1] == 0  # observed = expected: nothing
    assert _score([0], [40], direction="spike").score[0] == 0
    up = _score([90], [40], direction="spike")
    assert up.score[0] > scoring.threshold(0.5) and up.direction[0] == 1
    assert _score([90], [40], direction="drop").score[0] == 0


def test_min_volume_silences_a_quiet_hour_of_a_small_shop():
    assert _score([0], [3.0], min_volume=5).score[0] == 0  # 3 orders expected, none came: not enough volume
    assert _score([0], [3.0], min_volume=1).score[0] > 0


def test_quiet_hours_never_alert():
    assert _score([0, 0], [40, 40], quiet=[True, False]).score.tolist()[0] == 0
    assert _score([0, 0], [40, 40], quiet=[True, False]).score[1] > 0


def test_windows_find_a_drop_no_single_hour_shows():
    e = np.full(12, 2.0)
    y = np.array([2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 2, 2], float)
    one = _score(y, e, min_volume=1, windows=(1,))
    many = _score(y, e, min_volume=1, windows=scoring.HOUR_WINDOWS)
    assert one.score.max() < 2  # one hour with 0 of 2 expected is ordinary
    assert many.score[9] > one.score.max() + 1 and many.window[9] >= 6  # six hours with 0 of 12 is not


def test_a_burst_is_not_echoed_by_the_windows_after_it():
    # Three hours of a card-testing burst (80 declines of 5 expected), then ordinary hours: a long window ending
    # after the burst still holds its excess, but an hour that adds no evidence must not keep the alert going.
    e = np.full(16, 5.0)
    y = np.array([5, 5, 80, 80, 80, 5, 5, 4, 6, 5, 5, 5, 5, 5, 5, 5], float)
    s = _score(y, e, direction="spike", windows=scoring.HOUR_WINDOWS)
    flagged = np.flatnonzero(s.score >= scoring.threshold(0.5)).tolist()
    assert flagged == [2, 3, 4]
    # Without the rule (independently: the best plain window tail at hour 12) the echo would score high.
    w8 = scoring.count_tail(np.array([y[5:13].sum()]), np.array([e[5:13].sum()]), False)[0]
    w12 = scoring.count_tail(np.array([y[1:13].sum()]), np.array([e[1:13].sum()]), False)[0]
    assert -np.log10(min(w8, w12) * np.sqrt(len(scoring.HOUR_WINDOWS))) > scoring.threshold(0.5)
    # An outage that goes on stays flagged every hour it lasts once it is plain (an hour with 1 of 5 included).
    y2 = np.array([5, 5, 1, 0, 1, 0, 0, 1, 0, 0, 5, 5, 5, 5, 5, 5], float)
    s2 = _score(y2, e, direction="drop", windows=scoring.HOUR_WINDOWS)
    assert set(range(5, 10)) <= set(np.flatnonzero(s2.score >= scoring.threshold(0.5)).tolist())


def test_sensitivity_moves_the_threshold_the_right_way():
    assert scoring.threshold(1.0) < scoring.threshold(0.5) < scoring.threshold(0.0)


def test_watch_rule_refuses_bad_settings_with_a_message():
    with pytest.raises(ValueError, match="unknown metric"):
        WatchRule("visits")
    with pytest.raises(ValueError, match="dimension 'region' is not watched"):
        WatchRule("conversion", "region")
    with pytest.raises(ValueError, match="quiet hours"):
        WatchRule("orders", quiet_hours=frozenset({25}))
    with pytest.raises(ValueError, match="sensitivity"):
        WatchRule("orders", sensitivity=2)


def _a(hour, window=1, metric="orders", dim="total", value=None, score=5.0, direction="drop"):
    return Anomaly(1, metric, dim, value, T0 + dt.timedelta(hours=hour), window, 0, 10, 2, 18, score, 1e-5, direction)


def test_grouping_joins_same_and_adjacent_hours_across_dimensions():
    groups = group_anomalies([_a(10), _a(11, dim="region", value="London"), _a(12, metric="revenue"),
                              _a(20), _a(23, window=3)])
    assert [len(g) for g in groups] == [3, 2]  # 20h and 23h (window 21-23) touch; 12h and 20h do not
    assert group_anomalies([]) == []


def test_a_drop_joins_a_spike_only_when_flagged_in_the_same_hours():
    burst = [_a(3, metric="payment_declines", direction="spike"), _a(4, metric="payment_declines", window=3,
                                                                     direction="spike")]
    fall = [_a(7), _a(8), _a(15, window=12)]  # the 12-hour window reaches back to 4h, into the burst
    groups = group_anomalies(burst + fall)
    assert sorted(len(g) for g in groups) == [2, 3]
    assert {a.direction for a in groups[0]} == {"spike"} and {a.direction for a in groups[1]} == {"drop"}
    # The same declines spike flagged in the hour orders fell (a payment outage) is one incident.
    assert [len(g) for g in group_anomalies(fall + [_a(8, metric="payment_declines", direction="spike")])] == [4]


def test_incident_key_is_stable_and_distinct():
    assert incident_key(1, "orders", T0) == incident_key(1, "orders", T0)
    assert len({incident_key(1, "orders", T0), incident_key(2, "orders", T0), incident_key(1, "revenue", T0),
                incident_key(1, "orders", T0 + dt.timedelta(hours=1))}) == 4


def _synthetic(days: int, seed: int = 3):
    """Hourly Poisson counts with a known weekday x hour profile: mean = 40 a day x weekday x hour shape."""
    import polars as pl

    rng = np.random.default_rng(seed)
    hour_shape = np.array([0.2] * 7 + [1.0] * 12 + [0.8] * 5)
    hour_shape = hour_shape / hour_shape.sum()
    weekday = np.array([1.0, 1.0, 1.0, 1.1, 1.3, 0.7, 0.6])
    ts, mean = [], []
    for d in range(days):
        day = dt.datetime(2026, 1, 5) + dt.timedelta(days=d)
        for h in range(24):
            ts.append(day + dt.timedelta(hours=h))
            mean.append(40 * weekday[day.weekday()] * hour_shape[h])
    mean = np.array(mean)
    return pl.DataFrame({"ts": ts, "n": rng.poisson(mean).astype(float)}), mean


def test_expected_tracks_a_known_weekly_and_hourly_profile():
    from models.alerts import expected as ex

    frame, mean = _synthetic(120)
    got = ex.expected_total(frame, "hour", {})["expected"].to_numpy()
    last = slice(-24 * 28, None)  # four weeks after the history filled up
    day_got = got[last].reshape(-1, 24).sum(axis=1)
    day_true = mean[last].reshape(-1, 24).sum(axis=1)
    assert np.all(np.abs(day_got / day_true - 1) < 0.2)
    assert abs(got[last].sum() / mean[last].sum() - 1) < 0.05


def test_expected_of_a_day_cut_short_equals_the_whole_days():
    from models.alerts import expected as ex

    frame, _ = _synthetic(80)
    whole = ex.expected_total(frame, "hour", {})
    cut = ex.expected_total(frame.head(frame.height - 10), "hour", {})  # the check runs before the day ends
    a = whole.head(cut.height)["expected"].to_numpy()
    b = cut["expected"].to_numpy()
    assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)])


def _failures(failed, attempts, sensitivity=0.5):
    """Score an hourly series of payments failing at the processor (none in the weeks before: the floor rate)."""
    y, n = np.asarray(failed, float), np.asarray(attempts, float)
    s = scoring.score_series("rare", {"y": y, "n": n}, {"e": n * scoring.RARE_RATE_FLOOR}, n, direction="spike",
                             min_volume=scoring.MIN_VOLUME["payment_failures"], quiet=np.zeros(len(y), bool),
                             windows=scoring.HOUR_WINDOWS)
    return s.score >= scoring.threshold(sensitivity), s


def test_rare_failures_use_the_exact_binomial_tail():
    got = scoring.window_tail("rare", False, {"y": np.array([2.0]), "n": np.array([3.0])},
                              {"e": np.array([3 * scoring.RARE_RATE_FLOOR])})[0]
    assert got == pytest.approx(stats.binom.sf(1, 3, scoring.RARE_RATE_FLOOR))
    # The normal tail the declines use would call it far less likely than it is.
    normal = scoring.window_tail("ratio", False, {"y": np.array([2.0]), "n": np.array([3.0])},
                                 {"e": np.array([3 * scoring.RARE_RATE_FLOOR])})[0]
    assert normal < got / 100


def test_a_burst_of_processor_failures_alerts_and_a_stray_one_does_not():
    quiet = [0] * 30
    alerts, _ = _failures(quiet + [1], [4] * 31)
    assert not alerts.any()  # one failure after quiet weeks: it happens
    alerts, _ = _failures(quiet + [2], [3] * 31)
    assert not alerts.any()  # two of three at sensitivity 0.5: not yet...
    alerts, _ = _failures(quiet + [2], [3] * 31, sensitivity=0.9)
    assert alerts[-1]  # ...at the default 0.9 of the failures total, yes
    alerts, s = _failures(quiet + [3], [3] * 31)
    assert alerts[-1] and s.direction[-1] == 1
    silent, _ = _failures([0] * 5 + [2], [0.5] * 6)
    assert not silent.any()  # fewer payments expected than the minimum volume: a night of a tiny shop
