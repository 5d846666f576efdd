"""Helpers the row models share: seeded draws, weighted tables, Socrata's text encodings."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from statistics import NormalDist
from typing import Generic, TypeVar

from ..synth import RowRandom
from ..times import floating_text

T = TypeVar("T")
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_NORMAL = NormalDist()


class Draws:
    """A row's random draws: a pure function of (stream, seed, row number, version)."""

    __slots__ = ("random",)

    def __init__(self, stream: str, seed: int, row_number: int, version: int = 0) -> None:
        self.random = RowRandom(seed, row_number, version, stream=f"{stream}:").random

    def below(self, k: int) -> int:
        return min(int(self.random() * k), k - 1)

    def between(self, lo: int, hi: int) -> int:
        """An int in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def chance(self, p: float) -> bool:
        return self.random() < p

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def lognormal(self, median: float, sigma: float) -> float:
        """Skewed durations and amounts: half below `median`, a long right tail."""
        u = min(max(self.random(), 1e-9), 1 - 1e-9)
        return median * math.exp(sigma * _NORMAL.inv_cdf(u))


class Weighted(Generic[T]):
    """A table of (value, weight) picked in proportion to the weights."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = [value for value, _ in pairs]
        self._cum = list(accumulate(weight for _, weight in pairs))

    def pick(self, draws: Draws) -> T:
        return self.values[bisect_right(self._cum, draws.random() * self._cum[-1])]


def number_text(value: float, decimals: int = 2) -> str:
    """A number as Socrata sends it: text, no trailing zeros ("150", "2126.25")."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def floating(naive_ms: int, unit_ms: int = 1000) -> str:
    """Floating timestamp text, truncated to `unit_ms` (seconds by default)."""
    return floating_text(naive_ms // unit_ms * unit_ms)


def at_time_of_day(naive_ms: int, ms_into_day: int) -> int:
    """The latest instant not after `naive_ms` whose time of day is `ms_into_day`.

    Moves an event to a realistic hour without moving it past its publication.
    """
    day = naive_ms // DAY_MS * DAY_MS
    moved = day + ms_into_day
    return moved if moved <= naive_ms else moved - DAY_MS
