"""The in-memory windows behind the fraud features, against a direct count on small random frames.

Frames are drawn with few identities and few instants, so rows share instants (peers), identities recur within
every span, and some identities are unknown (null): the cases where a sorted-array count could be off by one.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.fraud import windows

SPANS = [5, 30, 400]  # microseconds, against instants 0..999


def _frame(seed: int, rows: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    device = rng.choice(["d1", "d2", "d3", "d4", None], size=rows).tolist()
    card = rng.choice(["c1", "c2", "c3", "c4", "c5", "c6", None], size=rows).tolist()
    return pl.DataFrame({
        "merchant_id": rng.integers(1, 3, size=rows).astype(np.int32),
        "micros": rng.integers(0, 1000, size=rows),
        "device_id": device, "card_fingerprint": card,
        "value": rng.integers(-5, 50, size=rows),
    })


def _direct(frame: pl.DataFrame, span: int | None, *, distinct: bool = False) -> list[int]:
    """Per row, by a loop over every other row: the sum of value (or distinct cards) of the same merchant and
    device in [t - span, t) (distinct: [t - span, t], own row included)."""
    rows = frame.to_dicts()
    out = []
    for r in rows:
        if r["device_id"] is None:
            out.append(0)
            continue
        same = [o for o in rows if o["merchant_id"] == r["merchant_id"] and o["device_id"] == r["device_id"]]
        low = -10**18 if span is None else r["micros"] - span
        if distinct:
            out.append(len({o["card_fingerprint"] for o in same if low <= o["micros"] <= r["micros"]
                            and o["card_fingerprint"] is not None}))
        else:
            out.append(sum(o["value"] for o in same if low <= o["micros"] < r["micros"]))
    return out


def _identity(frame: pl.DataFrame) -> windows.Identity:
    instants = windows.Instants.of(frame["micros"].to_numpy(), SPANS)
    return windows.Identity(frame, "device_id", instants)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sums_and_counts_before_each_row_equal_a_direct_count(seed):
    frame = _frame(seed)
    identity = _identity(frame)
    values = frame["value"].to_numpy()
    counted = frame.with_columns(value=pl.lit(1))
    for span in [*SPANS, None]:
        assert identity.before(values, span).tolist() == _direct(frame, span), span
        assert identity.before(None, span).tolist() == _direct(counted, span), span


@pytest.mark.parametrize("seed", [4, 5])
def test_distinct_values_in_each_frame_equal_a_direct_count(seed):
    frame = _frame(seed)
    identity = _identity(frame)
    for span in SPANS:
        got = identity.distinct_in_frame("card_fingerprint", frame, span)
        assert got.tolist() == _direct(frame, span, distinct=True), span
    assert identity.distinct_in_frame("card_fingerprint", frame, 400).max() > 2


def test_a_hash_collision_falls_back_to_exact_groups(monkeypatch):
    frame = _frame(6)
    expected = _identity(frame).before(frame["value"].to_numpy(), 30)
    real = windows._hash
    # every row shares the first hash: only the second one tells identities apart
    monkeypatch.setattr(windows, "_hash", lambda part, seed: real(part, seed) * 0 if seed == 0 else real(part, seed))
    assert _identity(frame).before(frame["value"].to_numpy(), 30).tolist() == expected.tolist()
    assert expected.tolist() == _direct(frame, 30)


def test_an_empty_frame_and_a_single_row():
    frame = _frame(7)
    assert _identity(frame.head(0)).before(None, 30).tolist() == []
    one = frame.filter(pl.col("device_id").is_not_null()).head(1)
    assert _identity(one).before(None, None).tolist() == [0]
    assert _identity(one).distinct_in_frame("card_fingerprint", one, 30).tolist() == [
        0 if one["card_fingerprint"][0] is None else 1]


def test_instants_rank_and_the_rank_of_each_window_start():
    micros = np.array([10, 10, 3, 25, 3, 40])
    instants = windows.Instants.of(micros, [7])
    assert instants.rank.tolist() == [1, 1, 0, 2, 0, 3]  # distinct instants 3, 10, 25, 40
    # distinct instants before t - 7: 10 -> 3: none; 3 -> -4: none; 25 -> 18: {3, 10}; 40 -> 33: {3, 10, 25}
    assert instants.before[7].tolist() == [0, 0, 0, 2, 0, 3]
