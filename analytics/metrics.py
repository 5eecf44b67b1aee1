"""Survey metrics with honest intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm


@dataclass(frozen=True)
class NpsInterval:
    """NPS on the −100…100 scale with its adjusted-Wald confidence bounds."""

    nps: float
    low: float
    high: float
    n: int
    promoters: int
    passives: int
    detractors: int
    confidence: float

    @property
    def promoter_share(self) -> float:
        return self.promoters / self.n if self.n else math.nan

    @property
    def passive_share(self) -> float:
        return self.passives / self.n if self.n else math.nan

    @property
    def detractor_share(self) -> float:
        return self.detractors / self.n if self.n else math.nan

    @property
    def standard_error(self) -> float:
        """Standard error of the adjusted NPS on the −100…100 scale (for z-tests between periods)."""
        return (self.high - self.low) / (2 * norm.ppf(0.5 + self.confidence / 2))


def nps_interval(promoters: int, passives: int, detractors: int, confidence: float = 0.95) -> NpsInterval:
    """NPS with the adjusted-Wald interval (add ¾ to promoters and detractors and 3 to n).

    ``SE = sqrt((p' + d' - (p' - d')²) / n')``; the interval is centred on the adjusted NPS
    ``p' - d'`` and clipped to [−100, 100]. With no answers, every figure is NaN.
    """
    if min(promoters, passives, detractors) < 0:
        raise ValueError("counts must be non-negative")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    n = promoters + passives + detractors
    if n == 0:
        return NpsInterval(math.nan, math.nan, math.nan, 0, 0, 0, 0, confidence)
    nps = 100.0 * (promoters - detractors) / n
    n_adj = n + 3
    p_adj = (promoters + 0.75) / n_adj
    d_adj = (detractors + 0.75) / n_adj
    centre = p_adj - d_adj
    se = math.sqrt((p_adj + d_adj - centre**2) / n_adj)
    z = float(norm.ppf(0.5 + confidence / 2))
    low = max(-1.0, centre - z * se)
    high = min(1.0, centre + z * se)
    return NpsInterval(nps, 100 * low, 100 * high, n, promoters, passives, detractors, confidence)
