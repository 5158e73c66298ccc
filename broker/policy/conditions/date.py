"""Date condition operators.

"IAM JSON policy elements: Condition operators", section "Date condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date):
values are W3C ISO 8601 dates/times ("Date and Time Formats", https://www.w3.org/TR/NOTE-datetime) or
epoch (UNIX) seconds; no wildcards and no policy variables. A time without a zone is taken as UTC.
Context values (``aws:CurrentTime``, ``aws:TokenIssueTime``…) are parsed once per distinct string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from broker.policy.conditions.base import Matcher, Operator, bounded_put

__all__ = ["OPERATORS", "parse_date"]

_EPOCH = re.compile(r"^-?\d+(?:\.\d+)?$")
_ISO_SHAPE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?(?:[Tt ].*)?$")
_memo: dict[str, object] = {}


def _parse(text: str) -> float | None:
    text = text.strip()
    if _EPOCH.match(text):
        return float(text)
    if not _ISO_SHAPE.match(text):
        return None
    candidate = text
    if len(candidate) == 4:  # YYYY
        candidate += "-01-01"
    elif len(candidate) == 7:  # YYYY-MM
        candidate += "-01"
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_date(text: str) -> float | None:
    """Epoch seconds for an ISO 8601 or epoch-seconds string, or ``None``; memoised."""
    cached = _memo.get(text, _memo)
    if cached is not _memo:
        return cached  # type: ignore[return-value]
    value = _parse(text)
    bounded_put(_memo, text, value)
    return value


def _policy_dates(values: Sequence[str]) -> list[float]:
    out: list[float] = []
    for value in values:
        moment = _parse(value)
        if moment is None:
            raise ValueError(f"Invalid date value {value!r} in condition")
        out.append(moment)
    return out


def _equals(values: Sequence[str]) -> Matcher:
    moments = frozenset(_policy_dates(values))

    def match(value: str) -> bool:
        return parse_date(value) in moments

    return match


def _compare(pick: Callable[[list[float]], float], test: str) -> Callable[[Sequence[str]], Matcher]:
    """``test``: ``<``, ``<=``, ``>`` or ``>=``, written into each matcher (no comparison function per call)."""

    def build(values: Sequence[str]) -> Matcher:
        bound = pick(_policy_dates(values))

        def lt(value: str) -> bool:
            moment = parse_date(value)
            return moment is not None and moment < bound

        def le(value: str) -> bool:
            moment = parse_date(value)
            return moment is not None and moment <= bound

        def gt(value: str) -> bool:
            moment = parse_date(value)
            return moment is not None and moment > bound

        def ge(value: str) -> bool:
            moment = parse_date(value)
            return moment is not None and moment >= bound

        return {"<": lt, "<=": le, ">": gt, ">=": ge}[test]

    return build


OPERATORS = (
    Operator("DateEquals", "Date", False, _equals),
    Operator("DateNotEquals", "Date", True, _equals),
    Operator("DateLessThan", "Date", False, _compare(max, "<")),
    Operator("DateLessThanEquals", "Date", False, _compare(max, "<=")),
    Operator("DateGreaterThan", "Date", False, _compare(min, ">")),
    Operator("DateGreaterThanEquals", "Date", False, _compare(min, ">=")),
)
