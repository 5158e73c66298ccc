"""Timing harness shared by the benchmarks: per-call ``perf_counter_ns`` samples with gc off, and percentiles.

Method (README.md, "Method"): warm up, then time each call on its own with ``time.perf_counter_ns`` while the
cyclic garbage collector is disabled, cycling through the request list until a sample cap or a time budget
is reached; report the median and the 99th percentile. The timer's own cost (an empty call through the same
loop) is measured too and printed, never subtracted.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Timing", "percentile", "time_batches", "time_calls"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timing:
    """Nanosecond samples summarised: ``n`` calls, median, 99th percentile and mean, in microseconds."""

    n: int
    p50_us: float
    p99_us: float
    mean_us: float

    @property
    def per_second(self) -> float:
        return 1e6 / self.mean_us if self.mean_us > 0 else math.inf


def percentile(sorted_samples: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    if not sorted_samples:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_samples)))
    return float(sorted_samples[rank - 1])


def _summarise(samples: list[int], per: int = 1) -> Timing:
    samples.sort()
    return Timing(n=len(samples) * per, p50_us=percentile(samples, 50) / 1000 / per,
                  p99_us=percentile(samples, 99) / 1000 / per, mean_us=sum(samples) / len(samples) / 1000 / per)


def time_calls(fn: Callable[[T], object], inputs: Sequence[T], *, budget_s: float, max_samples: int,
               warmup: int = 200, min_samples: int = 32) -> Timing:
    """Time ``fn(x)`` per call, cycling over ``inputs``, until ``max_samples`` or ``budget_s`` is used up.

    The inputs are in random order, so a slow engine that exhausts its budget early is timed on a random
    prefix of them; ``Timing.n`` reports how many calls were timed.
    """
    for i in range(min(warmup, max_samples)):
        fn(inputs[i % len(inputs)])
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    deadline = clock() + int(budget_s * 1e9)
    n = len(inputs)
    enabled = gc.isenabled()
    gc.disable()
    try:
        i = 0
        while i < max_samples:
            x = inputs[i % n]
            t0 = clock()
            fn(x)
            append(clock() - t0)
            i += 1
            if i & 15 == 0 and i >= min_samples and clock() > deadline:
                break
    finally:
        if enabled:
            gc.enable()
    return _summarise(samples)


def time_batches(fn: Callable[[], object], per_batch: int, *, budget_s: float, max_batches: int) -> Timing:
    """Time a whole batch call at a time; the figures are per decision (batch time / ``per_batch``)."""
    fn()
    clock = time.perf_counter_ns
    samples: list[int] = []
    deadline = clock() + int(budget_s * 1e9)
    enabled = gc.isenabled()
    gc.disable()
    try:
        while len(samples) < max_batches:
            t0 = clock()
            fn()
            samples.append(clock() - t0)
            if clock() > deadline and len(samples) >= 3:
                break
    finally:
        if enabled:
            gc.enable()
    return _summarise(samples, per_batch)
