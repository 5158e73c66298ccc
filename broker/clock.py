"""The one place broker reads wall-clock time.

Everything time-dependent takes a :class:`Clock` (STYLE.md habit 4), so tests can stand exactly on
every expiry edge. ``tests/unit/test_clock_discipline.py`` greps the package to keep it that way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "utc"]


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and rate limits)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FixedClock:
    """A clock that only moves when told to; for tests."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    _mono: float = 0.0

    def __post_init__(self) -> None:
        self.current = utc(self.current)

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, value: datetime) -> None:
        self.current = utc(value)
