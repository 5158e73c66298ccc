"""Timing harness shared by the benchmarks: per-call ``perf_counter_ns`` samples with gc off, and percentiles.

Method (README.md, "Timing method"): warm up, then time each call on its own with ``time.perf_counter_ns``
while the cyclic garbage collector is disabled, cycling through the request list until a sample cap or a
time budget is reached, engines alternating in several rounds; report the median and the
99th percentile. The timer's own cost (an empty call through the same loop) is measured too and printed,
never subtracted.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Sampler", "Timing", "interleave", "percentile", "summarise", "time_calls"]

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


def summarise(samples: Sequence[int], per: int = 1) -> Timing:
    """Per-decision figures from per-call nanosecond samples (``per`` decisions per call)."""
    ordered = sorted(samples)
    return Timing(n=len(ordered) * per, p50_us=percentile(ordered, 50) / 1000 / per,
                  p99_us=percentile(ordered, 99) / 1000 / per, mean_us=sum(ordered) / len(ordered) / 1000 / per)


class Sampler(Generic[T]):
    """Per-call samples of ``fn(x)`` over ``inputs``, accumulated across interleaved rounds.

    Each round continues where the previous one stopped in ``inputs`` (random order), so a slow engine that
    exhausts its budget is timed on a prefix of them; ``Timing.n`` reports how many decisions were timed.
    ``per`` is the number of decisions one call makes (a batch call).
    """

    def __init__(self, fn: Callable[[T], object], inputs: Sequence[T], *, per: int = 1, warmup: int = 200,
                 min_samples: int | None = None) -> None:
        self.fn, self.inputs, self.per, self.warmup = fn, inputs, per, warmup
        self.min_samples = min_samples
        self.samples: list[int] = []
        self._next = 0

    def run(self, *, budget_s: float, max_samples: int, min_samples: int) -> None:
        """One round: warm up (first round only), then sample until the budget or the cap, gc disabled.

        ``min_samples`` is overridden by the sampler's own minimum when it has one (a slow batch call).
        """
        if self.min_samples is not None:
            min_samples = self.min_samples
        fn, inputs, n = self.fn, self.inputs, len(self.inputs)
        for i in range(min(self.warmup, max_samples)):
            fn(inputs[i % n])
        self.warmup = 0
        clock = time.perf_counter_ns
        append = self.samples.append
        deadline = clock() + int(budget_s * 1e9)
        start = len(self.samples)
        cap = max(max_samples, min_samples)
        i = self._next
        enabled = gc.isenabled()
        gc.disable()
        try:
            while len(self.samples) - start < cap:
                x = inputs[i % n]
                t0 = clock()
                fn(x)
                elapsed = clock() - t0
                append(elapsed)
                i += 1
                # the deadline is read every 16 fast calls, after every slow one (>= 50 µs)
                if (i & 15 == 0 or elapsed >= 50_000) and len(self.samples) - start >= min_samples \
                        and clock() > deadline:
                    break
        finally:
            if enabled:
                gc.enable()
        self._next = i

    def timing(self) -> Timing:
        return summarise(self.samples, self.per)


def interleave(samplers: Mapping[str, Sampler[Any]], *, rounds: int, budget_s: float, max_samples: int,
               min_samples: int = 32) -> dict[str, Timing]:
    """Run every sampler for ``budget_s`` in total, in ``rounds`` alternating slices.

    Alternating engines within a cell spreads the shared machine's slow spells over all of them, so the
    ratios measured in one run are not skewed by which engine happened to run during a noisy second.
    """
    for _ in range(rounds):
        for sampler in samplers.values():
            sampler.run(budget_s=budget_s / rounds, max_samples=max_samples // rounds,
                        min_samples=max(1, min_samples // rounds))
    return {name: sampler.timing() for name, sampler in samplers.items()}


def time_calls(fn: Callable[[T], object], inputs: Sequence[T], *, budget_s: float, max_samples: int,
               warmup: int = 200, min_samples: int = 32) -> Timing:
    """One engine on its own: ``fn(x)`` per call over ``inputs`` until ``max_samples`` or ``budget_s``."""
    sampler = Sampler(fn, inputs, warmup=warmup)
    sampler.run(budget_s=budget_s, max_samples=max_samples, min_samples=min_samples)
    return sampler.timing()
