"""Linear-time glob matching: the same answers as the regex reading of ``*``/``?`` (StringLike, ARN
segments), without its catastrophic backtracking on caller-controlled values.

Sources: "IAM JSON policy elements: Condition operators", "String condition operators"; "Resource",
"Including wildcard characters in the resource ARN".
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import allow, decide

from broker.policy.conditions.string import build_like
from broker.policy.globmatch import arn_glob_matcher, glob_matcher, tokens_matcher
from broker.policy.patterns import arn_glob_source, glob_source

patterns = st.text(alphabet="ab:/*?", max_size=8)
values = st.text(alphabet="ab:/", max_size=10)


@settings(max_examples=400, deadline=None)
@given(patterns, values)
def test_glob_matches_like_the_regex_reference(pattern: str, value: str) -> None:
    assert glob_matcher(pattern)(value) == (re.fullmatch(glob_source(pattern), value, re.DOTALL) is not None)


@settings(max_examples=400, deadline=None)
@given(patterns, values)
def test_arn_glob_matches_like_the_segment_regex(pattern: str, value: str) -> None:
    reference = re.fullmatch(arn_glob_source(pattern)[0], value, re.DOTALL) is not None
    assert arn_glob_matcher(pattern)(value) == reference


def test_literal_tokens_are_not_wildcards() -> None:
    matcher = tokens_matcher([("home/", True), ("a*b?", False), ("/*", True)])
    assert matcher("home/a*b?/x")
    assert not matcher("home/aXbY/x")


def test_pathological_patterns_stay_linear() -> None:
    """Regression: these took seconds to hours with a backtracking regex; they must simply answer."""
    value = "a" * 50_000
    assert build_like(["*a*a*a*a*b"])(value) is False
    assert build_like(["*a*a*a*a*"])(value) is True
    assert arn_glob_matcher("arn:aws:s3:::*a*a*a*b")("arn:aws:s3:::" + value) is False
    statement = allow("s3:*", "arn:aws:s3:::b/*a*a*a*a*c", Condition={"StringLike": {"s3:prefix": "*x*x*x*y"}})
    decision = decide([statement], "s3:GetObject", "arn:aws:s3:::b/" + value, {"s3:prefix": "x" * 50_000})
    assert decision.effect == "ImplicitDeny"
