"""The SigV4 hot-path shortcuts (made for the PDP) agree with the general code they skip."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.credentials.sigv4 import SignedRequest, parse
from broker.credentials.sigv4.canonical_request import (
    canonical_headers,
    canonical_path,
    normalize_path,
    trimall,
    uri_encode,
)
from broker.credentials.sigv4.window import check_window
from broker.errors import BrokerError

parse_module = importlib.import_module("broker.credentials.sigv4.parse")  # the package re-exports parse()
PATH_CHARS = st.sampled_from(list("abcXYZ019-_.~/%+ é"))


@settings(max_examples=400, deadline=None)
@given(st.text(PATH_CHARS, max_size=30), st.booleans())
def test_canonical_path_fast_path(path: str, normalize: bool) -> None:
    general = normalize_path(path) if normalize else path
    expected = uri_encode(general or "/", keep_slash=True)
    assert canonical_path(path, normalize=normalize) == expected


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_single_header_trim_fast_path(value: str) -> None:
    request = SignedRequest.build("GET", "/", "", [("Host", "h"), ("X-Test", value)])
    assert canonical_headers(request, ("x-test",)) == f"x-test:{trimall(value)}\n"


@pytest.mark.parametrize("header", [
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request,SignedHeaders=host;x-amz-date,"
    "Signature=abc",
    "AWS4-HMAC-SHA256  Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x",
    "AWS4-HMAC-SHA256 Signature=x, Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date",
    "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=, Signature=x",
])
def test_usual_header_shape_parses_like_the_general_loop(header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    request = SignedRequest.build("GET", "/", "", [("Host", "h"), ("X-Amz-Date", "20150830T123600Z"),
                                                   ("Authorization", header)])
    fast = _outcome(lambda: parse(request))
    monkeypatch.setattr(parse_module, "_USUAL_HEADER", re.compile(r"(?!)"))  # never matches: the general loop
    general = _outcome(lambda: parse(request))
    assert fast == general


def _outcome(fn: object) -> object:
    try:
        return fn()  # type: ignore[operator]
    except BrokerError as error:
        return (type(error).__name__, error.message)


@pytest.mark.parametrize("offset", [-301, -300, -299, 0, 299, 300, 301])
def test_window_fast_path_matches_the_boundaries(offset: int) -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    header = "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/s/aws4_request, SignedHeaders=host;x-amz-date, " \
        "Signature=x"
    stamp = _stamp(now + timedelta(seconds=offset))
    request = SignedRequest.build("GET", "/", "", [("Host", "h"), ("X-Amz-Date", stamp), ("Authorization", header)])
    auth = parse(request)
    outcome = _outcome(lambda: check_window(auth, now=now, skew_seconds=300))
    if abs(offset) <= 300:
        assert outcome is None
    else:
        assert isinstance(outcome, tuple) and outcome[0] == "SignatureDoesNotMatch"
        assert outcome[1].startswith("Signature expired" if offset < 0 else "Signature not yet current")


def _stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "post"]),
    st.text(PATH_CHARS, max_size=12),
    st.text(max_size=8),
    st.lists(st.tuples(st.sampled_from(["Host", "host", "X-Amz-Date", "x-a", "X-A", "İ", "Authorization"]),
                       st.text(max_size=6)), max_size=6),
    st.binary(max_size=8),
    st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_signed_request_is_build(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
                                 body_sha256: str | None) -> None:
    from broker.credentials.sigv4.fast import signed_request

    fast = signed_request(method, path, query, headers, body, body_sha256)
    general = SignedRequest.build(method, path, query, headers, body, body_sha256)
    assert fast == general and type(fast) is SignedRequest
    assert fast._index == general._index and list(fast._index) == list(general._index)
    assert repr(fast) == repr(general) and fast.payload_hash() == general.payload_hash()
    for name, _ in headers:
        assert fast.header_tuple(name) == general.header_tuple(name)
