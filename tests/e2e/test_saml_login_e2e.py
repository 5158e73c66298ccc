"""Browser SAML login against the running server with the fixture IdP over real HTTP: SP-initiated
(signed AuthnRequest over the Redirect binding, RelayState, request id in a sealed cookie, POST binding back)
and IdP-initiated, the role picker, the credentials page (duration clamped and explained), the credentials
working with boto3, and every bad-input class ending in a clear 4xx with nothing minted."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from idp_fixtures.saml import RunningIdp, SamlIdp, User
from tests.e2e.conftest import ACCOUNT, Server
from tests.e2e.saml_browser import forms, submit

pytestmark = pytest.mark.e2e

PROVIDER_NAME = "fixture"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER_NAME}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/saml-dev"
OTHER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/saml-ops"


@dataclass
class Setup:
    server: Server
    idp: SamlIdp
    idp_url: str


@pytest.fixture(scope="module")
def saml(server: Server) -> Iterator[Setup]:
    idp = SamlIdp(entity_id=f"https://idp-{uuid.uuid4().hex[:8]}.fixture.test/saml", sign="both",
                  sp_entity_id=server.url + "/saml/metadata", sp_acs_url=server.url + "/saml/acs")
    idp.add_user(User.aws("alice", [(ROLE_ARN, PROVIDER_ARN), (OTHER_ROLE_ARN, PROVIDER_ARN)], "alice@example.com"))
    with RunningIdp(idp) as running:
        iam = server.client("iam")
        iam.create_saml_provider(Name=PROVIDER_NAME, SAMLMetadataDocument=idp.metadata())
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": server.url + "/saml/acs"}},
        }]}
        for name in ("saml-dev", "saml-ops"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)
        iam.put_role_policy(RoleName="saml-dev", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
        yield Setup(server, idp, running.url)
        for name in ("saml-dev", "saml-ops"):
            if name == "saml-dev":
                iam.delete_role_policy(RoleName=name, PolicyName="read")
            iam.delete_role(RoleName=name)
        iam.delete_saml_provider(SAMLProviderArn=PROVIDER_ARN)


@pytest.fixture(autouse=True)
def _reset(saml: Setup) -> Iterator[None]:
    saml.idp.fault, saml.idp.overrides = None, {}
    yield
    saml.idp.fault, saml.idp.overrides = None, {}


def _browser() -> httpx.Client:
    return httpx.Client(follow_redirects=True, timeout=30)


def _credentials(page: httpx.Response) -> dict[str, str]:
    found = dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", page.text))
    return found


def _sts(server: Server, creds: dict[str, str]) -> Any:
    return boto3.client(
        "sts", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"], aws_session_token=creds["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 1}),
    )


def _picker(saml: Setup, browser: httpx.Client) -> httpx.Response:
    """SP-initiated: /saml/login → IdP (Redirect binding) → auto-post form → ACS → role picker."""
    at_idp = browser.get(saml.server.url + f"/saml/login?provider={PROVIDER_NAME}")
    assert at_idp.status_code == 200, at_idp.text
    assert str(at_idp.url).startswith(saml.idp_url + "/sso?SAMLRequest=")
    return submit(browser, at_idp)


def test_metadata(saml: Setup) -> None:
    r = httpx.get(saml.server.url + "/saml/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/samlmetadata+xml")
    assert f'entityID="{saml.server.url}/saml/metadata"' in r.text
    assert f'Location="{saml.server.url}/saml/acs"' in r.text


def test_sp_initiated_login_to_credentials(saml: Setup) -> None:
    with _browser() as browser:
        login = browser.get(saml.server.url + f"/saml/login?provider={PROVIDER_NAME}", follow_redirects=False)
        assert login.status_code == 303
        cookie = login.headers["set-cookie"]
        # plain HTTP: the request-state cookie has no SameSite attribute (over TLS: SameSite=None; Secure)
        assert cookie.startswith("broker_saml_login=")
        assert cookie.split("; ", 1)[1] == "HttpOnly; Max-Age=600; Path=/"
        at_idp = browser.get(login.headers["location"])
        request = saml.idp.requests[-1]
        assert request.acs_url == saml.server.url + "/saml/acs"
        assert request.issuer == saml.server.url + "/saml/metadata"
        picker = submit(browser, at_idp)
        assert picker.status_code == 200, picker.text
        assert picker.headers["cache-control"] == "no-store"
        set_cookies = picker.headers.get_list("set-cookie")
        assert any(c.startswith('broker_saml_login=""') and "SameSite" not in c for c in set_cookies)
        assert any(c.startswith("broker_saml_pick=") and c.endswith("; Path=/; SameSite=lax") for c in set_cookies)
        form = forms(picker.text)[0]
        assert form.action == saml.server.url + "/saml/role"
        assert sorted(form.radios["role_arn"]) == [ROLE_ARN, OTHER_ROLE_ARN]
        assert "csrf_token" in form.fields and "SAMLResponse" in form.fields
        page = submit(browser, picker, role_arn=ROLE_ARN, duration_seconds="99999")
        assert page.status_code == 200, page.text
        assert "clamped to 7200 s" in page.text
        creds = _credentials(page)
        assert creds["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        ident = _sts(saml.server, creds).get_caller_identity()
        assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-dev/alice@example.com"
        # the same response cannot mint twice (replay cache)
        again = submit(browser, picker, role_arn=ROLE_ARN)
        assert again.status_code in (400, 403)
        assert "AWS_SECRET_ACCESS_KEY" not in again.text


def test_idp_initiated_login(saml: Setup) -> None:
    with _browser() as browser:
        at_idp = browser.get(saml.idp_url + "/idp-initiated?RelayState=anything")
        picker = submit(browser, at_idp)
        assert picker.status_code == 200, picker.text
        page = submit(browser, picker, role_arn=OTHER_ROLE_ARN)
        assert page.status_code == 200, page.text
        assert "3600 seconds" in page.text
        assert _credentials(page)["AWS_ACCESS_KEY_ID"].startswith("ASIA")


def test_idp_initiated_response_with_in_response_to_is_refused(saml: Setup) -> None:
    saml.idp.overrides["in_response_to"] = "_forged-request"
    with _browser() as browser:
        picker = submit(browser, browser.get(saml.idp_url + "/idp-initiated"))
        assert picker.status_code == 400
        assert "InvalidIdentityToken" in picker.text


def test_missing_and_garbage_saml_response(saml: Setup) -> None:
    acs = saml.server.url + "/saml/acs"
    r = httpx.post(acs, data={"RelayState": "x"})
    assert r.status_code == 400 and "no SAMLResponse" in r.text
    r = httpx.post(acs, data={"SAMLResponse": "not base64 !!"})
    assert r.status_code == 400 and "InvalidIdentityToken" in r.text
    r = httpx.post(acs, data={"SAMLResponse": "PGZvbz48L2Zvbz4="})  # <foo></foo>
    assert r.status_code == 400 and "InvalidIdentityToken" in r.text
    r = httpx.post(acs, content=b"SAMLResponse=abc", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_oversized_post(saml: Setup) -> None:
    r = httpx.post(saml.server.url + "/saml/acs", data={"SAMLResponse": "A" * 400_000})
    assert r.status_code == 413


def test_wrong_relay_state(saml: Setup) -> None:
    with _browser() as browser:
        at_idp = browser.get(saml.server.url + f"/saml/login?provider={PROVIDER_NAME}")
        r = submit(browser, at_idp, RelayState="someone-elses")
        assert r.status_code == 400 and "RelayState does not match" in r.text


def test_forged_login_cookie(saml: Setup) -> None:
    with _browser() as browser:
        at_idp = browser.get(saml.server.url + f"/saml/login?provider={PROVIDER_NAME}")
        browser.cookies.set("broker_saml_login", "AQ" + "A" * 80)
        r = submit(browser, at_idp)
        assert r.status_code == 400 and "login state is not valid" in r.text


def test_csrf_token_missing_or_wrong(saml: Setup) -> None:
    with _browser() as browser:
        picker = _picker(saml, browser)
        r = submit(browser, picker, csrf_token=None)
        assert r.status_code == 403 and "CSRF" in r.text
        r = submit(browser, picker, csrf_token="0" * 64)
        assert r.status_code == 403
        r = browser.post(saml.server.url + "/saml/role", data=forms(picker.text)[0].fields,
                         headers={"origin": "https://evil.example"})
        assert r.status_code == 403 and "another site" in r.text
        # the response was not consumed by the refusals: the honest submission still works
        assert submit(browser, picker).status_code == 200


def test_response_swapped_into_the_picker_is_refused(saml: Setup) -> None:
    with _browser() as browser:
        picker = _picker(saml, browser)
        other = saml.idp.response_b64()
        r = submit(browser, picker, SAMLResponse=other)
        assert r.status_code == 400 and "does not belong to this login" in r.text


def test_role_not_in_assertion_is_denied(saml: Setup) -> None:
    with _browser() as browser:
        picker = _picker(saml, browser)
        r = submit(browser, picker, role_arn=f"arn:aws:iam::{ACCOUNT}:role/not-offered")
        assert r.status_code == 403 and "AccessDenied" in r.text


@pytest.mark.parametrize("fault", ["xsw-before", "nameid-comment", "doctype-entity", "tamper-nameid"])
def test_forged_responses_are_refused_at_the_acs(saml: Setup, fault: str) -> None:
    saml.idp.fault = fault
    with _browser() as browser:
        r = submit(browser, browser.get(saml.idp_url + "/idp-initiated"))
        assert r.status_code == 400 and "InvalidIdentityToken" in r.text
        assert "role_arn" not in r.text


def test_expired_response_is_refused(saml: Setup) -> None:
    saml.idp.expired()
    with _browser() as browser:
        r = submit(browser, browser.get(saml.idp_url + "/idp-initiated"))
        assert r.status_code == 400 and "ExpiredTokenException" in r.text


def test_unknown_provider_and_missing_parameter(saml: Setup) -> None:
    assert httpx.get(saml.server.url + "/saml/login").status_code == 400
    r = httpx.get(saml.server.url + "/saml/login?provider=nope")
    assert r.status_code == 400 and "No SAML provider nope" in r.text


def _metadata_cert_pem(saml: Setup, use: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    xml = httpx.get(saml.server.url + "/saml/metadata").text
    found = re.search(rf'<md:KeyDescriptor use="{use}">.*?<ds:X509Certificate>([^<]+)<', xml)
    assert found, xml
    return x509.load_der_x509_certificate(base64.b64decode(found.group(1))).public_bytes(Encoding.PEM)


def test_authn_request_is_signed_with_the_metadata_certificate(saml: Setup) -> None:
    saml.idp.sp_cert_pem = _metadata_cert_pem(saml, "signing")
    try:
        with _browser() as browser:
            picker = _picker(saml, browser)
            assert picker.status_code == 200
        request = saml.idp.requests[-1]
        assert request.sig_alg == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        assert request.signature_valid is True
    finally:
        saml.idp.sp_cert_pem = None


@pytest.mark.parametrize("algorithm", ["aes256-cbc", "aes128-gcm"])
def test_encrypted_assertion_login(saml: Setup, algorithm: str) -> None:
    saml.idp.encrypt_to_cert_pem = _metadata_cert_pem(saml, "encryption")
    saml.idp.encryption_algorithm = algorithm
    try:
        with _browser() as browser:
            at_idp = browser.get(saml.idp_url + "/idp-initiated")
            assert b"EncryptedAssertion" in base64.b64decode(forms(at_idp.text)[0].fields["SAMLResponse"])
            picker = submit(browser, at_idp)
            assert picker.status_code == 200, picker.text
            page = submit(browser, picker, role_arn=ROLE_ARN)
            assert page.status_code == 200, page.text
            assert _credentials(page)["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    finally:
        saml.idp.encrypt_to_cert_pem = None
