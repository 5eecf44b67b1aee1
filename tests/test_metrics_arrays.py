"""``nps_interval_arrays`` gives exactly (bit for bit) what ``nps_interval`` gives, row by row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.metrics import nps_interval, nps_interval_arrays


def _scalar(p: np.ndarray, u: np.ndarray, d: np.ndarray, confidence: float) -> list[tuple[float, ...]]:
    rows = [nps_interval(int(a), int(b), int(c), confidence) for a, b, c in zip(p, u, d, strict=True)]
    return [(r.nps, r.low, r.high) for r in rows]


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_bit_identical_to_the_scalar_interval(confidence: float) -> None:
    rng = np.random.default_rng(7)
    size = 3_000
    scale = rng.choice([1, 10, 1_000, 1_000_000], size=size)
    p, u, d = (rng.integers(0, scale + 1) for _ in range(3))
    p[:50], u[:50], d[:50] = 0, 0, 0  # rows without answers: NaN
    d[50:80] = 0
    p[80:110] = 0
    nps, low, high = nps_interval_arrays(p, u, d, confidence)
    for i, (a, b, c) in enumerate(_scalar(p, u, d, confidence)):
        for got, want in ((nps[i], a), (low[i], b), (high[i], c)):
            assert (math.isnan(got) and math.isnan(want)) or got == want, (i, got, want)


def test_empty_input_and_bad_counts() -> None:
    nps, low, high = nps_interval_arrays(np.array([], dtype="int64"), np.array([], dtype="int64"),
                                         np.array([], dtype="int64"))
    assert nps.size == low.size == high.size == 0 and nps.dtype == np.float64
    with pytest.raises(ValueError):
        nps_interval_arrays(np.array([1]), np.array([-1]), np.array([0]))
    with pytest.raises(ValueError):
        nps_interval_arrays(np.array([1]), np.array([1]), np.array([0]), confidence=1.0)
