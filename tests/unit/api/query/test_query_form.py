"""Form and query-string decoding: encodings, malformed input, duplicates, size limit."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.api.query.form import parse_form
from broker.errors import MalformedQueryString, RequestEntityTooLarge

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def test_body_and_query_are_merged_in_order() -> None:
    got = parse_form(b"Action=CreateRole&RoleName=a+b&Path=%2F", "Version=2010-05-08", FORM, max_bytes=1024)
    assert list(got.items()) == [
        ("Version", "2010-05-08"), ("Action", "CreateRole"), ("RoleName", "a b"), ("Path", "/")]


def test_utf8_escapes_and_empty_values() -> None:
    got = parse_form(b"A=caf%C3%A9&B=&C&&D=%E2%82%AC", "", None, max_bytes=1024)
    assert got == {"A": "café", "B": "", "C": "", "D": "€"}


def test_raw_utf8_body_is_accepted() -> None:
    assert parse_form("A=café".encode(), "", FORM, max_bytes=1024) == {"A": "café"}


def test_plus_escaped_stays_plus() -> None:
    assert parse_form(b"A=a%2Bb+c", "", FORM, max_bytes=1024) == {"A": "a+b c"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"A=%zz", "Invalid percent-encoding in the value of A"),
        (b"A=50%", "Invalid percent-encoding in the value of A"),
        (b"A=%4", "Invalid percent-encoding in the value of A"),
        (b"%G1=x", "Invalid percent-encoding in a parameter name in the request body"),
        (b"A=%FF", "Invalid UTF-8 in the value of A"),
        (b"A=%C3", "Invalid UTF-8 in the value of A"),
        (b"A=\xff", "Invalid UTF-8 in the request body"),
        (b"=x", "Empty parameter name in the request body"),
        (b"A=1&A=2", "The parameter A appears more than once"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(MalformedQueryString) as err:
        parse_form(body, "", FORM, max_bytes=1024)
    assert (err.value.code, err.value.status, err.value.message) == ("MalformedQueryString", 400, message)


def test_duplicate_across_query_and_body_is_refused() -> None:
    with pytest.raises(MalformedQueryString, match="The parameter Action appears more than once"):
        parse_form(b"Action=CreateRole", "Action=DeleteRole", FORM, max_bytes=1024)


def test_malformed_query_string() -> None:
    with pytest.raises(MalformedQueryString, match="Invalid percent-encoding in the value of Action"):
        parse_form(b"", "Action=%", None, max_bytes=1024)


def test_non_form_content_type_with_body_is_refused() -> None:
    with pytest.raises(MalformedQueryString) as err:
        parse_form(b'{"Action":"CreateRole"}', "", "application/json", max_bytes=1024)
    assert err.value.message == "Unsupported Content-Type application/json; expected application/x-www-form-urlencoded"


def test_content_type_is_ignored_for_an_empty_body() -> None:
    assert parse_form(b"", "Action=GetCallerIdentity", "application/json", max_bytes=1024) == {
        "Action": "GetCallerIdentity"}


def test_size_limit_is_inclusive() -> None:
    body = b"A=" + b"x" * 1018
    assert len(body) + len("B=1") == 1023
    assert parse_form(body, "B=1", FORM, max_bytes=1023)["B"] == "1"
    with pytest.raises(RequestEntityTooLarge) as err:
        parse_form(body, "B=12", FORM, max_bytes=1023)
    assert (err.value.code, err.value.status) == ("RequestEntityTooLarge", 413)
    assert err.value.message == "Request must be at most 1023 bytes"


_TEXT = st.characters(codec="utf-8")


@given(st.dictionaries(st.text(_TEXT, min_size=1), st.text(_TEXT), max_size=8))
def test_round_trips_urlencode(params: dict[str, str]) -> None:
    body = urlencode(params).encode()
    assert parse_form(body, "", FORM, max_bytes=1 << 20) == params


def test_query_string_as_raw_bytes() -> None:
    assert parse_form(b"", "A=caf%C3%A9&B=é".encode(), None, max_bytes=1024) == {"A": "café", "B": "é"}
    with pytest.raises(MalformedQueryString, match=r"^Invalid UTF-8 in the query string$"):
        parse_form(b"", b"A=\xff", None, max_bytes=1024)
