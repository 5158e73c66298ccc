"""Cross-check with botocore (a test dependency only): what boto3 signs, broker verifies.

Two ways: (1) botocore's ``SigV4Auth`` / ``SigV4QueryAuth`` driven step by step with a fixed
timestamp (no wall clock), compared byte for byte with broker's ``sign``/``presign`` and verified;
(2) real boto3 ``sts`` and ``iam`` clients whose outgoing requests are captured before sending
(``before-send`` hook) and verified at the time they carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from sigv4_tamper_helpers import AKID, BODY, NOW, SECRET, TOKEN

from broker.credentials.sigv4 import SIGNATURE_MISMATCH, SignedRequest, parse, presign, sign, verify
from broker.credentials.sigv4.parse import format_amz_date
from broker.errors import SignatureDoesNotMatch

ENDPOINT = "http://127.0.0.1:8000"
HOST = "127.0.0.1:8000"
STAMP = format_amz_date(NOW)


def to_signed_request(method: str, url: str, headers: Any, body: bytes | str | None) -> SignedRequest:
    parts = urlsplit(url)
    pairs = [(str(k), v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(name.lower() == "host" for name, _ in pairs):
        pairs.insert(0, ("Host", parts.netloc))  # what the HTTP client sends
    raw = body.encode() if isinstance(body, str) else (body or b"")
    return SignedRequest.build(method, parts.path or "/", parts.query, pairs, raw)


def botocore_header_signed(service: str, token: str | None) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=f"{ENDPOINT}/",
        data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    request.context["timestamp"] = STAMP
    signer = SigV4Auth(Credentials(AKID, SECRET, token), service, "us-east-1")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical), request))
    return request


def botocore_query_signed(service: str, token: str | None) -> AWSRequest:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15")
    request.context["timestamp"] = STAMP
    signer = SigV4QueryAuth(Credentials(AKID, SECRET, token), service, "us-east-1", expires=900)
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical), request))
    return request


def check(request: SignedRequest, service: str) -> None:
    verify(request, parse(request), SECRET, now=NOW, skew_seconds=900, expected_service=service, normalize_path=True)


@pytest.mark.parametrize("service", ["sts", "iam"])
@pytest.mark.parametrize("token", [None, TOKEN])
def test_botocore_header_signature_verifies_and_equals_ours(service: str, token: str | None) -> None:
    theirs = botocore_header_signed(service, token)
    ours_request = to_signed_request("POST", theirs.url, theirs.headers, theirs.body)
    check(ours_request, service)
    unsigned = SignedRequest.build(
        "POST", "/", "", [("Host", HOST), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], BODY
    )
    ours = sign(unsigned, AKID, SECRET, "us-east-1", service, NOW, session_token=token)
    assert ours.header_values("authorization") == [theirs.headers["Authorization"]]


@pytest.mark.parametrize("service", ["sts", "iam"])
@pytest.mark.parametrize("token", [None, TOKEN])
def test_botocore_presigned_url_verifies_and_equals_ours(service: str, token: str | None) -> None:
    theirs = botocore_query_signed(service, token)
    request = to_signed_request("GET", theirs.url, {}, None)
    check(request, service)
    unsigned = SignedRequest.build("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15", [("Host", HOST)])
    ours = presign(unsigned, AKID, SECRET, "us-east-1", service, NOW, expires=900, session_token=token)
    assert ours.query == urlsplit(theirs.url).query


def test_botocore_signature_with_other_secret_is_refused() -> None:
    theirs = botocore_header_signed("sts", TOKEN)
    request = to_signed_request("POST", theirs.url, theirs.headers, theirs.body)
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(
            request,
            parse(request),
            SECRET[:-1] + "X",
            now=NOW,
            skew_seconds=900,
            expected_service="sts",
            normalize_path=True,
        )
    assert caught.value.message == SIGNATURE_MISMATCH


# --- real boto3 clients ------------------------------------------------------------------------


class Capture:
    def __init__(self) -> None:
        self.requests: list[SignedRequest] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(to_signed_request(request.method, request.url, request.headers, request.body))
        raise _Captured


class _Captured(Exception):
    pass


@pytest.fixture
def capture() -> Iterator[Capture]:
    yield Capture()


def client(service: str, capture: Capture, token: str | None) -> Any:
    made = boto3.session.Session().client(
        service,
        endpoint_url=ENDPOINT,
        region_name="eu-west-3",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )
    made.meta.events.register("before-send", capture)
    return made


def verify_at_own_time(request: SignedRequest, service: str) -> None:
    auth = parse(request)
    verify(request, auth, SECRET, now=auth.timestamp, skew_seconds=0, expected_service=service, normalize_path=True)


@pytest.mark.parametrize("token", [None, TOKEN])
def test_boto3_sts_calls_verify(capture: Capture, token: str | None) -> None:
    sts = client("sts", capture, token)
    with pytest.raises(_Captured):
        sts.get_caller_identity()
    with pytest.raises(_Captured):
        sts.assume_role(
            RoleArn="arn:aws:iam::123456789012:role/r",
            RoleSessionName="session",
            Tags=[{"Key": "k", "Value": "v w+x/y"}],
        )
    assert len(capture.requests) == 2
    for request in capture.requests:
        auth = parse(request)
        assert (auth.region, auth.service, auth.presigned) == ("eu-west-3", "sts", False)
        assert auth.security_token == token
        verify_at_own_time(request, "sts")


@pytest.mark.parametrize("token", [None, TOKEN])
def test_boto3_iam_calls_verify(capture: Capture, token: str | None) -> None:
    iam = client("iam", capture, token)
    with pytest.raises(_Captured):
        iam.list_users(PathPrefix="/a b/")
    with pytest.raises(_Captured):
        iam.create_role(RoleName="r", AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}')
    for request in capture.requests:
        assert parse(request).service == "iam"
        verify_at_own_time(request, "iam")


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_boto3_presigned_urls_verify(capture: Capture, service: str) -> None:
    made = client(service, capture, TOKEN)
    method = "get_caller_identity" if service == "sts" else "list_users"
    # HttpMethod="GET" as `aws eks get-token` does: without it botocore signs the operation's method (POST)
    # while the URL is fetched with GET, which AWS refuses too (boto/boto3#756).
    url = made.generate_presigned_url(method, Params={}, ExpiresIn=60, HttpMethod="GET")
    request = to_signed_request("GET", url, {}, None)
    auth = parse(request)
    assert auth.presigned and auth.expires == 60 and auth.security_token == TOKEN
    verify_at_own_time(request, service)


def test_boto3_presigned_url_signed_for_post_is_refused_as_get(capture: Capture) -> None:
    url = client("sts", capture, None).generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60)
    request = to_signed_request("GET", url, {}, None)
    auth = parse(request)
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, auth, SECRET, now=auth.timestamp, skew_seconds=0, expected_service="sts", normalize_path=True)
    as_post = SignedRequest(
        "POST", request.path, request.query, request.headers, request.body
    )  # the method botocore signed
    verify(as_post, auth, SECRET, now=auth.timestamp, skew_seconds=0, expected_service="sts", normalize_path=True)


def test_boto3_request_tampered_body_is_refused(capture: Capture) -> None:
    with pytest.raises(_Captured):
        client("sts", capture, None).get_caller_identity()
    request = capture.requests[0]
    tampered = SignedRequest(request.method, request.path, request.query, request.headers, request.body + b"&X=1")
    auth = parse(tampered)
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(tampered, auth, SECRET, now=auth.timestamp, skew_seconds=0, expected_service="sts", normalize_path=True)
    assert caught.value.message == SIGNATURE_MISMATCH
