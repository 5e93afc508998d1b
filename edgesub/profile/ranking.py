"""Ranks with ties: figures whose error intervals overlap cannot be told apart, so they share
a rank instead of one being starred as the winner.

An estimate's interval is its value ± the estimator's error band for the device
(``latency_error_pct``); a measurement's is ± run-to-run noise (``recommend.TIE_FRACTION``). Two
figures tie when the distance between them is within the sum of their half-widths, or within
:data:`PRACTICAL_TIE_FRACTION` of each other. Ranking is
competition style (1, =1, 3): a row ties with the best row of the rank it would join, so a
chain of small steps cannot carry a slow row up to the winner's rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Figures within this fraction of each other are a tie whatever their bands: a variant that
# changes battery life or latency by under 2 % is no reason to choose it (with idle power
# included, every variant of a tiny model gives a device the same battery hours).
PRACTICAL_TIE_FRACTION = 0.02


@dataclass(frozen=True)
class Standing:
    """One contender: its tier (0 ranks before 1; None: cannot be ranked), the figure it is
    ranked by (lower is better) and that figure's ± half-width in the same unit."""

    tier: int | None
    value: float = 0.0
    half_width: float = 0.0


def tied_ranks(standings: Sequence[Standing]) -> list[int | None]:
    """Competition ranks of ``standings`` (None for those without a tier)."""
    ranks: list[int | None] = [None] * len(standings)
    order = sorted(
        (i for i, s in enumerate(standings) if s.tier is not None),
        key=lambda i: (standings[i].tier, standings[i].value),
    )
    leader: int | None = None
    for position, i in enumerate(order):
        if leader is not None and _tie(standings[leader], standings[i]):
            ranks[i] = ranks[leader]
            continue
        ranks[i], leader = position + 1, i
    return ranks


def _tie(a: Standing, b: Standing) -> bool:
    gap = abs(a.value - b.value)
    within = gap <= a.half_width + b.half_width or gap <= PRACTICAL_TIE_FRACTION * min(
        a.value, b.value
    )
    return a.tier == b.tier and within
