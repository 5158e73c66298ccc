"""Every signed component, changed after signing, is refused with the exact error.

Base requests are signed by broker's own ``sign``/``presign`` (cross-checked against botocore in
test_sigv4_botocore.py): an STS-style POST with a query string, a body, a custom signed header and a
session token, and a presigned GET.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

import pytest
from sigv4_tamper_helpers import (
    AKID,
    NOW,
    OTHER_SECRET,
    SECRET,
    add_header,
    authorization,
    edit_authorization,
    flip_hex,
    header_signed,
    query_param,
    query_signed,
    set_header,
    set_query_param,
)

from broker.credentials.sigv4 import SIGNATURE_MISMATCH, SignedRequest, parse, verify
from broker.credentials.sigv4.canonical_request import EMPTY_SHA256
from broker.credentials.sigv4.verify import expected_signature
from broker.errors import BrokerError, IncompleteSignature, SignatureDoesNotMatch

Tamper = Callable[[SignedRequest], SignedRequest]


def check(
    request: SignedRequest,
    *,
    secret: str = SECRET,
    expected_service: str | None = "sts",
    now: datetime = NOW,
) -> None:
    verify(
        request,
        parse(request),
        secret,
        now=now,
        skew_seconds=900,
        expected_service=expected_service,
        normalize_path=True,
    )


def refused(request: SignedRequest, error: type[BrokerError], message: str, **kwargs: object) -> BrokerError:
    with pytest.raises(error) as caught:
        check(request, **kwargs)  # type: ignore[arg-type]
    assert type(caught.value) is error
    assert caught.value.message == message
    return caught.value


def test_untampered_requests_verify() -> None:
    check(header_signed())
    check(header_signed(token=None))
    check(query_signed())
    check(query_signed(token=None))


HEADER_TAMPERS: dict[str, Tamper] = {
    "method": lambda r: SignedRequest(r.method.replace("POST", "PUT"), r.path, r.query, r.headers, r.body),
    "method-lowercase-is-same": lambda r: r,  # placeholder replaced below
    "path": lambda r: SignedRequest(r.method, "/other", r.query, r.headers, r.body),
    "path-trailing-slash": lambda r: SignedRequest(r.method, "/x/", r.query, r.headers, r.body),
    "query-param-Foo-value": lambda r: set_query_param(r, "Foo", "baz"),
    "query-param-Baz-value": lambda r: set_query_param(r, "Baz", "2"),
    "query-param-removed": lambda r: set_query_param(r, "Foo", None),
    "query-param-added": lambda r: set_query_param(r, "Extra", "1"),
    "query-param-duplicated": lambda r: r.with_query(r.query + "&Foo=bar"),
    "header-host": lambda r: set_header(r, "Host", "127.0.0.1:8001"),
    "header-content-type": lambda r: set_header(r, "Content-Type", "application/json"),
    "header-x-custom": lambda r: set_header(r, "X-Custom", "other value"),
    "header-x-custom-second-value": lambda r: add_header(r, "X-Custom", "again"),
    "header-x-amz-date-same-day": lambda r: set_header(r, "X-Amz-Date", "20260101T120001Z"),
    "header-x-amz-security-token": lambda r: set_header(r, "X-Amz-Security-Token", "another-token"),
    "removed-signed-header-x-custom": lambda r: set_header(r, "X-Custom", None),
    "removed-signed-header-token": lambda r: set_header(r, "X-Amz-Security-Token", None),
    "removed-from-signed-headers-list": lambda r: edit_authorization(r, r";x-custom", ""),
    "added-to-signed-headers-list": lambda r: edit_authorization(
        add_header(r, "X-Unsigned", "v"), r"SignedHeaders=", "SignedHeaders=x-unsigned;"
    ),
    "added-to-signed-headers-list-absent": lambda r: edit_authorization(
        r, r"SignedHeaders=", "SignedHeaders=x-absent;"
    ),
    "body": lambda r: SignedRequest(r.method, r.path, r.query, r.headers, r.body + b"&Extra=1"),
    "body-emptied": lambda r: SignedRequest(r.method, r.path, r.query, r.headers, b""),
    "region-valid-other": lambda r: edit_authorization(r, r"/us-east-1/", "/eu-west-1/"),
    "signature-last-hex": lambda r: edit_authorization(
        r, r"Signature=([0-9a-f]+)", "Signature=" + flip_hex(authorization(r).rsplit("=", 1)[1])
    ),
    "signature-uppercase": lambda r: edit_authorization(
        r, r"Signature=([0-9a-f]+)", "Signature=" + authorization(r).rsplit("=", 1)[1].upper()
    ),
    "signature-truncated": lambda r: edit_authorization(
        r, r"Signature=([0-9a-f]+)", "Signature=" + authorization(r).rsplit("=", 1)[1][:-2]
    ),
    "signature-non-ascii": lambda r: edit_authorization(r, r"Signature=([0-9a-f]+)", "Signature=\u00e9\u00e9"),
}
del HEADER_TAMPERS["method-lowercase-is-same"]


@pytest.mark.parametrize("name", sorted(HEADER_TAMPERS))
def test_header_form_tamper_is_refused(name: str) -> None:
    refused(HEADER_TAMPERS[name](header_signed()), SignatureDoesNotMatch, SIGNATURE_MISMATCH)


def test_access_key_id_swap_is_refused() -> None:
    # The access key id is not part of the string to sign: the API layer looks the secret up by it,
    # so another key id brings another secret, and the signature no longer matches.
    tampered = edit_authorization(header_signed(), AKID, "AKIAI44QH8DHBEXAMPLE")
    assert parse(tampered).access_key_id == "AKIAI44QH8DHBEXAMPLE"
    refused(tampered, SignatureDoesNotMatch, SIGNATURE_MISMATCH, secret=OTHER_SECRET)


def test_wrong_secret_is_refused() -> None:
    refused(header_signed(), SignatureDoesNotMatch, SIGNATURE_MISMATCH, secret=OTHER_SECRET)


def test_service_swap_is_refused_by_scope() -> None:
    tampered = edit_authorization(header_signed(), r"/sts/", "/iam/")
    refused(tampered, SignatureDoesNotMatch, "Credential should be scoped to correct service: 'sts'.")
    # and by the signature when any service is accepted
    refused(tampered, SignatureDoesNotMatch, SIGNATURE_MISMATCH, expected_service=None)


def test_signed_for_iam_is_refused_for_sts() -> None:
    refused(
        header_signed(service="iam"), SignatureDoesNotMatch, "Credential should be scoped to correct service: 'sts'."
    )
    check(header_signed(service="iam"), expected_service="iam")


def test_invalid_region_is_refused() -> None:
    tampered = edit_authorization(header_signed(), r"/us-east-1/", "/US_EAST/")
    refused(tampered, SignatureDoesNotMatch, "Credential should be scoped to a valid region, not 'US_EAST'.")


def test_terminator_is_refused() -> None:
    tampered = edit_authorization(header_signed(), r"/aws4_request", "/aws4_bogus")
    refused(
        tampered,
        SignatureDoesNotMatch,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_bogus'.",
    )


def test_scope_problems_are_all_reported() -> None:
    tampered = edit_authorization(header_signed(), r"/20260101/us-east-1/sts/aws4_request", "/20260102/x_/iam/nope")
    refused(
        tampered,
        SignatureDoesNotMatch,
        "Credential should be scoped to a valid region, not 'x_'. "
        "Credential should be scoped to correct service: 'sts'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'nope'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20260102' != '20260101', from '20260101T120000Z'.",
    )


def test_date_header_on_another_day_is_refused() -> None:
    tampered = set_header(header_signed(), "X-Amz-Date", "20260102T000000Z")
    refused(
        tampered,
        SignatureDoesNotMatch,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20260101' != '20260102', from '20260102T000000Z'.",
        now=datetime(2026, 1, 2, 0, 0, 0, tzinfo=NOW.tzinfo),
    )


def test_unsigned_session_token_is_refused() -> None:
    tampered = add_header(header_signed(token=None), "X-Amz-Security-Token", "sneaked-in")
    refused(tampered, IncompleteSignature, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")


def test_removing_host_from_signed_headers_is_incomplete() -> None:
    tampered = edit_authorization(header_signed(), r"host;", "")
    refused(tampered, IncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")


def test_removing_x_amz_date_from_signed_headers_is_incomplete() -> None:
    tampered = edit_authorization(header_signed(), r";x-amz-date", "")
    refused(tampered, IncompleteSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")


def test_payload_hash_header_must_match_body() -> None:
    signed = header_signed()
    good = hashlib.sha256(signed.body).hexdigest()
    check(add_header(signed, "X-Amz-Content-SHA256", good))  # unsigned but consistent: accepted
    error = refused(add_header(signed, "X-Amz-Content-SHA256", "0" * 64), SignatureDoesNotMatch, SIGNATURE_MISMATCH)
    assert error.detail == "x-amz-content-sha256 does not match the body"


def test_unsigned_payload_is_refused_for_sts_and_iam() -> None:
    error = refused(
        add_header(header_signed(), "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
        SignatureDoesNotMatch,
        SIGNATURE_MISMATCH,
    )
    assert error.detail == "UNSIGNED-PAYLOAD is not accepted for service 'sts'"


QUERY_TAMPERS: dict[str, Tamper] = {
    "method": lambda r: SignedRequest("POST", r.path, r.query, r.headers, r.body),
    "path": lambda r: SignedRequest(r.method, "/other", r.query, r.headers, r.body),
    "host": lambda r: set_header(r, "Host", "127.0.0.1:8001"),
    "body": lambda r: SignedRequest(r.method, r.path, r.query, r.headers, b"x"),
    "Action": lambda r: set_query_param(r, "Action", "AssumeRole"),
    "Version": lambda r: set_query_param(r, "Version", "2010-05-08"),
    "param-added": lambda r: set_query_param(r, "RoleArn", "x"),
    "param-removed": lambda r: set_query_param(r, "Version", None),
    "X-Amz-Date-same-day": lambda r: set_query_param(r, "X-Amz-Date", "20260101T120001Z"),
    "X-Amz-Expires": lambda r: set_query_param(r, "X-Amz-Expires", "901"),
    "X-Amz-Security-Token": lambda r: set_query_param(r, "X-Amz-Security-Token", "other"),
    "X-Amz-Security-Token-removed": lambda r: set_query_param(r, "X-Amz-Security-Token", None),
    "X-Amz-SignedHeaders-added": lambda r: set_query_param(
        add_header(r, "X-Extra", "v"), "X-Amz-SignedHeaders", "host%3Bx-extra"
    ),
    "X-Amz-Credential-region": lambda r: set_query_param(
        r, "X-Amz-Credential", query_param(r, "X-Amz-Credential").replace("us-east-1", "eu-west-1")
    ),
    "X-Amz-Signature": lambda r: set_query_param(r, "X-Amz-Signature", flip_hex(query_param(r, "X-Amz-Signature"))),
}


@pytest.mark.parametrize("name", sorted(QUERY_TAMPERS))
def test_query_form_tamper_is_refused(name: str) -> None:
    refused(QUERY_TAMPERS[name](query_signed()), SignatureDoesNotMatch, SIGNATURE_MISMATCH)


def test_query_form_service_swap_is_refused() -> None:
    signed = query_signed()
    tampered = set_query_param(
        signed, "X-Amz-Credential", query_param(signed, "X-Amz-Credential").replace("sts", "iam")
    )
    refused(tampered, SignatureDoesNotMatch, "Credential should be scoped to correct service: 'sts'.")


def test_query_form_access_key_swap_is_refused() -> None:
    signed = query_signed()
    tampered = set_query_param(
        signed, "X-Amz-Credential", query_param(signed, "X-Amz-Credential").replace(AKID, "AKIAOTHER")
    )
    refused(tampered, SignatureDoesNotMatch, SIGNATURE_MISMATCH, secret=OTHER_SECRET)


def test_query_form_algorithm_is_incomplete() -> None:
    tampered = set_query_param(query_signed(), "X-Amz-Algorithm", "AWS4-HMAC-SHA512")
    with pytest.raises(IncompleteSignature) as caught:
        parse(tampered)
    assert caught.value.message == "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'."


def test_query_form_signs_the_body_hash_not_unsigned_payload() -> None:
    # A presigned STS URL signs the SHA-256 of the (empty) body, as botocore's SigV4QueryAuth does.
    signed = query_signed()
    canonical, _ = expected_signature(signed, parse(signed), SECRET, normalize_path=True)
    assert canonical.rsplit("\n", 1)[1] == EMPTY_SHA256
    # An unsigned X-Amz-Content-SHA256 header cannot switch a presigned STS request to UNSIGNED-PAYLOAD.
    check(set_header(signed, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"))
