"""The binary condition operator.

"IAM JSON policy elements: Condition operators", section "Binary condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals):
``BinaryEquals`` compares bytes; the policy holds them base64-encoded, and so does the context value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "build_binary"]


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def build_binary(values: Sequence[str]) -> Matcher:
    decoded: set[bytes] = set()
    for value in values:
        raw = _decode(value)
        if raw is None:
            raise ValueError(f"Invalid base64 value {value!r} in BinaryEquals condition")
        decoded.add(raw)
    frozen = frozenset(decoded)

    def match(value: str) -> bool:
        return _decode(value) in frozen

    return match


OPERATORS = (Operator("BinaryEquals", "Binary", False, build_binary),)
