"""Interleaved timing and paired speed ratios, shared by the benchmark scripts.

The machine is shared and noisy: load from other processes comes and goes within seconds. So the variants run in
rounds, one call each, in an order that alternates between rounds (forward, then backward), which puts every
variant equally often early and late in a round; and a speed ratio is computed per round, from calls made moments
apart, then summarised by its median and a 95 % bootstrap interval over rounds. "At least as fast" is then read
as: the interval does not lie below 1.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping


def interleaved(variants: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each variant, ``rounds`` calls each, interleaved (after one untimed warm-up call)."""
    names = list(variants)
    for name in names:
        variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(
    base: list[float], other: list[float], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(median, low, high) of base/other per round: the speed-up of ``other`` over ``base`` (above 1 = faster),
    with a 95 % percentile-bootstrap interval of the median."""
    ratios = [b / o for b, o in zip(base, other, strict=True)]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return statistics.median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def verdict(low: float, high: float) -> str:
    """'faster', 'equal' (the interval contains 1) or 'SLOWER'."""
    if low > 1:
        return "faster"
    return "equal" if high >= 1 else "SLOWER"
