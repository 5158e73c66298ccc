"""Malformed SigV4 forms: each refused at parse time with AWS's code and wording."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sigv4_tamper_helpers import base_request, header_signed, query_signed, set_header, set_query_param

from broker.credentials.sigv4 import SignedRequest, parse
from broker.errors import IncompleteSignature, MissingAuthenticationToken

CRED = "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/sts/aws4_request"
SIG = "a" * 64
GOOD_AUTH = f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host;x-amz-date, Signature={SIG}"


def with_auth(value: str, *, date: str | None = "20260101T120000Z") -> SignedRequest:
    headers = [("Host", "sts.amazonaws.com"), ("Authorization", value)]
    if date is not None:
        headers.append(("X-Amz-Date", date))
    return SignedRequest.build("POST", "/", "", headers, b"")


def incomplete(request: SignedRequest) -> IncompleteSignature:
    with pytest.raises(IncompleteSignature) as caught:
        parse(request)
    assert caught.value.code == "IncompleteSignature" and caught.value.status == 400
    return caught.value


def test_good_header_parses() -> None:
    auth = parse(with_auth(GOOD_AUTH))
    assert auth.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert auth.scope == "20260101/us-east-1/sts/aws4_request"
    assert auth.signed_headers == ("host", "x-amz-date")
    assert auth.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert not auth.presigned and auth.expires is None and auth.security_token is None
    assert SIG not in repr(auth)


def test_missing_everything() -> None:
    with pytest.raises(MissingAuthenticationToken) as caught:
        parse(base_request())
    assert caught.value.message == "Request is missing Authentication Token"
    assert caught.value.status == 403


def test_missing_all_components() -> None:
    error = incomplete(with_auth("AWS4-HMAC-SHA256 ", date=None))
    assert error.message == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=AWS4-HMAC-SHA256 "
    )
    assert "Authorization=" not in error.detail


def test_other_scheme_reports_every_requirement() -> None:
    error = incomplete(with_auth("Bearer abc.def"))
    assert error.message == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization=Bearer abc.def"
    )


def test_sigv4a_is_not_supported() -> None:
    error = incomplete(with_auth(GOOD_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")))
    assert error.message.startswith("Authorization header requires 'Credential' parameter.")


def test_missing_signature_only() -> None:
    value = f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host;x-amz-date"
    assert incomplete(with_auth(value)).message == (
        f"Authorization header requires 'Signature' parameter. Authorization={value}"
    )


def test_missing_date() -> None:
    assert incomplete(with_auth(GOOD_AUTH, date=None)).message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={GOOD_AUTH}"
    )


def test_missing_equal_sign() -> None:
    value = f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders, Signature={SIG}"
    assert incomplete(with_auth(value)).message == (
        f"'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
    )


def test_credential_with_four_elements() -> None:
    value = GOOD_AUTH.replace(CRED, "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/sts")
    assert incomplete(with_auth(value)).message == (
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        "got 'AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/sts'"
    )


@pytest.mark.parametrize("bad", ["2026-01-01T12:00:00Z", "20260101T120000", "20260101T120000.123Z", "20261301T120000Z"])
def test_bad_x_amz_date(bad: str) -> None:
    assert incomplete(with_auth(GOOD_AUTH, date=bad)).message == (
        f"Date must be in ISO-8601 'basic format'. Got '{bad}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_date_header_fallback() -> None:
    value = GOOD_AUTH.replace("x-amz-date", "date")
    request = set_header(with_auth(value, date=None), "Date", "Thu, 01 Jan 2026 12:00:00 GMT")
    auth = parse(request)
    assert auth.amz_date == "20260101T120000Z"
    assert auth.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_date_header_must_be_signed() -> None:
    request = set_header(
        with_auth(GOOD_AUTH.replace(";x-amz-date", ""), date=None), "Date", "Thu, 01 Jan 2026 12:00:00 GMT"
    )
    assert incomplete(request).message == "'Date' must be a 'SignedHeader' in the AWS Authorization."


def test_unparseable_date_header() -> None:
    request = set_header(with_auth(GOOD_AUTH.replace("x-amz-date", "date"), date=None), "Date", "yesterday")
    assert incomplete(request).message == (
        "Date must be in ISO-8601 'basic format'. Got 'yesterday'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_repeated_x_amz_date() -> None:
    request = with_auth(GOOD_AUTH).with_headers([("X-Amz-Date", "20260101T120001Z")])
    assert incomplete(request).message == "Only one 'X-Amz-Date' header may be specified."


def test_repeated_authorization() -> None:
    request = with_auth(GOOD_AUTH).with_headers([("Authorization", GOOD_AUTH)])
    assert incomplete(request).message == "Only one Authorization header may be specified"


def test_host_must_be_signed() -> None:
    value = GOOD_AUTH.replace("host;", "")
    assert incomplete(with_auth(value)).message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_host_and_date_unsigned_reported_together() -> None:
    value = GOOD_AUTH.replace("host;x-amz-date", "content-type")
    assert incomplete(with_auth(value)).message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization. "
        "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_both_forms_at_once() -> None:
    request = header_signed().with_query("X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert incomplete(request).message == (
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
        "parameter or the Authorization header should be specified"
    )


# --- presigned query form ---------------------------------------------------------------------


def test_good_query_parses() -> None:
    auth = parse(query_signed())
    assert auth.presigned and auth.expires == 900
    assert auth.signed_headers == ("host",)
    assert auth.security_token == "FwoGZXIvYXdzEXAMPLE//token+with/slashes=="


def test_query_missing_parameters() -> None:
    request = set_query_param(set_query_param(query_signed(), "X-Amz-Signature", None), "X-Amz-Date", None)
    assert incomplete(request).message == (
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-Date'. "
        "Re-examine the query-string parameters."
    )


def test_query_only_expires_is_still_query_auth() -> None:
    request = base_request(query="X-Amz-Expires=10")
    assert incomplete(request).message == (
        "AWS query-string parameters must include 'X-Amz-Algorithm'. "
        "AWS query-string parameters must include 'X-Amz-Credential'. "
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
        "AWS query-string parameters must include 'X-Amz-Date'. "
        "Re-examine the query-string parameters."
    )


def test_query_repeated_parameter() -> None:
    request = query_signed()
    request = request.with_query(request.query + "&X-Amz-Date=20260101T120000Z")
    assert incomplete(request).message == (
        "AWS query-string parameter 'X-Amz-Date' must appear only once. Re-examine the query-string parameters."
    )


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("abc", "X-Amz-Expires should be a number."),
        ("-1", "X-Amz-Expires must be non-negative."),
        ("0", "X-Amz-Expires must be at least 1 second."),
        ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800."),
    ],
)
def test_query_expires_range(expires: str, message: str) -> None:
    assert incomplete(set_query_param(query_signed(), "X-Amz-Expires", expires)).message == message


@pytest.mark.parametrize("expires", ["1", "604800"])
def test_query_expires_bounds_accepted(expires: str) -> None:
    assert parse(set_query_param(query_signed(), "X-Amz-Expires", expires)).expires == int(expires)


def test_query_bad_date_and_credential_collected() -> None:
    request = set_query_param(set_query_param(query_signed(), "X-Amz-Date", "nope"), "X-Amz-Credential", "AKID%2Fx")
    assert incomplete(request).message == (
        "Date must be in ISO-8601 'basic format'. Got 'nope'. See http://en.wikipedia.org/wiki/ISO_8601 "
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKID/x'"
    )


def test_query_host_must_be_signed() -> None:
    request = set_query_param(query_signed(), "X-Amz-SignedHeaders", "x-amz-date")
    assert incomplete(request).message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
