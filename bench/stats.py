"""Pure statistics of the benchmarks: percentiles, and whether a lag stayed bounded."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least p % of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} outside (0, 100]")
    ordered = sorted(samples)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def latency_summary(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in seconds, as milliseconds."""
    return {
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "max_ms": max(samples) * 1000,
        "samples": float(len(samples)),
    }


@dataclass(frozen=True)
class StepOutcome:
    """One step of the freshness ramp: what was asked and what came back."""

    rate: float
    accepted_rate: float
    freshness: Sequence[float]
    """Seconds from the 202 to visible, in the order the probes were sent."""
    invisible: int
    """Probes still not visible when the step gave up on them."""


def lag_is_bounded(step: StepOutcome, *, growth: float = 2.0, slack: float = 0.1) -> tuple[bool, str]:
    """Whether the stack kept up with the step's rate, and why not.

    It did not when a probe never became visible, when the gateway accepted noticeably less than
    was offered, or when probes sent late in the step waited much longer than early ones (a lag
    that grows with time): the last third's median above `growth` x the first third's + `slack` s.
    """
    if step.invisible:
        return False, f"{step.invisible} probe(s) never visible"
    if step.accepted_rate < 0.9 * step.rate:
        return False, f"gateway accepted {step.accepted_rate:,.0f}/s of {step.rate:,.0f}/s"
    if len(step.freshness) < 3:
        return False, "too few probes to judge"
    third = len(step.freshness) // 3
    early = statistics.median(step.freshness[:third])
    late = statistics.median(step.freshness[-third:])
    if late > growth * early + slack:
        return False, f"lag growing: median {early * 1000:,.0f} ms early, {late * 1000:,.0f} ms late"
    return True, ""


def rate_ramp(start: float, factor: float, ceiling: float) -> list[float]:
    """start, start x factor, ... up to `ceiling` (rounded to tens)."""
    rates, rate = [], start
    while rate <= ceiling:
        rates.append(float(round(rate, -1)))
        rate *= factor
    return rates
