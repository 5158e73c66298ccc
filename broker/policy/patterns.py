"""Wildcard patterns (``*`` and ``?``) compiled to regular expressions, once.

- Actions: "IAM JSON policy elements: Action" — case-insensitive, ``*`` any run, ``?`` one character
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
- Resources and ``ArnLike``: "IAM JSON policy elements: Resource", section "Including wildcard
  characters in the resource ARN" — compared segment by segment, case-sensitive; a wildcard cannot span
  the ``:`` separating the first five segments, and can span anything within the resource segment
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards).
- ``StringLike``: "IAM JSON policy elements: Condition operators", section "String condition operators"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String).
"""

from __future__ import annotations

import re

__all__ = ["arn_glob_source", "arn_prefix", "glob_source", "has_wildcard"]


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def glob_source(text: str) -> str:
    """Regex source for a plain glob: ``*`` any run (newlines included), ``?`` one character."""
    out: list[str] = []
    for ch in text:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def arn_glob_source(text: str, colons_before: int = 0) -> tuple[str, int]:
    """Regex source for an ARN glob and the number of ``:`` seen so far.

    ``colons_before`` carries the count across the parts of a template, so a wildcard is confined to its
    segment until the fifth colon (the start of the resource segment) and free after it.
    """
    out: list[str] = []
    colons = colons_before
    for ch in text:
        if ch == "*":
            out.append(".*" if colons >= 5 else "[^:]*")
        elif ch == "?":
            out.append("." if colons >= 5 else "[^:]")
        else:
            if ch == ":":
                colons += 1
            out.append(re.escape(ch))
    return "".join(out), colons


def arn_prefix(pattern: str) -> str | None:
    """The literal prefix when ``pattern``'s only wildcard is a final ``*`` inside the resource segment
    (after the fifth colon), where ``*`` matches anything: then matching is ``startswith``."""
    if not pattern.endswith("*"):
        return None
    head = pattern[:-1]
    if has_wildcard(head) or head.count(":") < 5:
        return None
    return head
