"""The AWS SigV4 test suite, step by step, in both the header and the presigned query form.

Vectors: tests/vectors/aws-sigv4-test-suite (awslabs/aws-c-auth, see SOURCE.md). For each case:
the canonical request, the string to sign and the signature we compute from the signed request
equal the suite's files byte for byte, and verify() accepts the signed request at the case's time.
"""

from __future__ import annotations

import pytest
from sigv4_vectors import CASES, SUITE, Case

from broker.credentials.sigv4 import parse, signature, signing_key, string_to_sign, verify
from broker.credentials.sigv4.verify import expected_signature

FORMS = ("header", "query")
PARAMS = [pytest.param(case, form, id=f"{case.name}-{form}") for case in CASES for form in FORMS]


def test_suite_has_all_38_cases() -> None:
    assert len(CASES) == 38
    assert (SUITE / "SOURCE.md").is_file()


def test_suite_covers_both_normalization_modes() -> None:
    assert sum(not c.normalize for c in CASES) == 7
    assert sum(c.normalize for c in CASES) == 31


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_canonical_request(case: Case, form: str) -> None:
    request = case.request(form)
    auth = parse(request)
    canonical, _ = expected_signature(
        request, auth, case.secret, normalize_path=case.normalize, omit_session_token=case.omit_session_token
    )
    assert canonical == case.text(f"{form}-canonical-request.txt")


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_string_to_sign(case: Case, form: str) -> None:
    request = case.request(form)
    auth = parse(request)
    canonical, _ = expected_signature(
        request, auth, case.secret, normalize_path=case.normalize, omit_session_token=case.omit_session_token
    )
    assert string_to_sign(auth.amz_date, auth.scope, canonical) == case.text(f"{form}-string-to-sign.txt")


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_signature(case: Case, form: str) -> None:
    auth = parse(case.request(form))
    key = signing_key(case.secret, auth.date, auth.region, auth.service)
    assert signature(key, case.text(f"{form}-string-to-sign.txt")) == case.text(f"{form}-signature.txt").strip()
    assert auth.signature == case.text(f"{form}-signature.txt").strip()


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_parse_reads_the_claims(case: Case, form: str) -> None:
    auth = parse(case.request(form))
    assert (auth.access_key_id, auth.region, auth.service, auth.terminator) == (
        case.access_key_id,
        case.region,
        case.service,
        "aws4_request",
    )
    assert auth.timestamp == case.timestamp
    assert auth.presigned is (form == "query")
    assert auth.expires == (case.expires if form == "query" else None)
    assert "host" in auth.signed_headers


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_verify_accepts_signed_request(case: Case, form: str) -> None:
    request = case.request(form)
    verify(
        request,
        parse(request),
        case.secret,
        now=case.timestamp,
        skew_seconds=300,
        expected_service=case.service,
        normalize_path=case.normalize,
        omit_session_token=case.omit_session_token,
    )


@pytest.mark.parametrize(("case", "form"), PARAMS)
def test_session_token_is_read(case: Case, form: str) -> None:
    request = case.request(form)
    sent = (
        request.header_values("x-amz-security-token")
        if form == "header"
        else [v for n, v in request.query_pairs() if n == "X-Amz-Security-Token"]
    )
    assert parse(request).security_token == (sent[0] if sent else None)
    if case.token is not None and sent:
        assert sent == [case.token]
