"""Response-only signatures from pysaml2 through the running server, by operator choice (issue 6).

A real ``broker serve`` started with ``BROKER_SAML_RESPONSE_SIGNED_PROVIDERS`` naming one SAML provider (by name)
and one more by ARN. Two pysaml2 IdPs (the ``xmlsec1`` program signs; only the Response is signed): the listed
provider's responses become working credentials through boto3 ``assume_role_with_saml``, the browser flow
(``POST /saml/acs`` → role picker → credentials page) and the token exchange; the unlisted provider's are refused
exactly as before (``InvalidIdentityToken``, "Response signature invalid", 400, nothing minted). The audit event
says when a Response signature was accepted.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from broker.federation.saml.config import SpConfig, sp_config
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.store import SqlStore
from idp_fixtures.saml.keys import generate_key_pair
from tests.e2e.conftest import ACCOUNT, Server, start_server, stop_server
from tests.e2e.saml_browser import forms, submit

sys.path.insert(0, str(Path(__file__).parents[1] / "interop" / "pysaml2"))
from pysaml2_idp import XMLSEC1, make_idp, response_b64

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(XMLSEC1 is None, reason="the xmlsec1 program is not installed")]

LISTED, BY_ARN, UNLISTED = "rs-listed", "rs-by-arn", "rs-unlisted"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/saml-rs"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
NAME_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
SAML2 = "urn:ietf:params:oauth:token-type:saml2"
AWS_CREDS = "urn:broker:token-type:aws-credentials"


def _arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}"


def _metadata(entity: str, cert_b64: str) -> str:
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
 <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate>
  </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
   Location="https://pysaml2.example.org/sso"/>
 </md:IDPSSODescriptor>
</md:EntityDescriptor>""" + " " * 600


@dataclass
class Setup:
    server: Server
    sp: SpConfig
    idps: dict[str, Any]

    def response(self, provider: str, user: str, *, sign_assertion: bool = False) -> str:
        return response_b64(self.idps[provider], self.sp, name_id=user,
                            attributes={ROLE_ATTR: [f"{ROLE},{_arn(provider)}"], NAME_ATTR: [user]},
                            sign_response=True, sign_assertion=sign_assertion)

    def audit(self, event_name: str) -> list[dict[str, Any]]:
        engine = make_engine(f"sqlite:///{self.server.home / 'broker.db'}")
        try:
            with SqlStore(engine).transaction() as tx:
                return [dict(e) for e in tx.audit.list(event_name=event_name)]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("broker-response-signed")
    server = start_server(home, "sqlite", None,
                          {"BROKER_SAML_RESPONSE_SIGNED_PROVIDERS": f"{LISTED}, {_arn(BY_ARN)}"})
    try:
        sp = sp_config(server.url)
        sp_der = x509.load_pem_x509_certificate(generate_key_pair("rs-sp").cert_pem).public_bytes(Encoding.DER)
        iam = server.client("iam")
        idps: dict[str, Any] = {}
        for name in (LISTED, BY_ARN, UNLISTED):
            key = generate_key_pair(f"rs-{name}")
            entity = f"https://{name}-{uuid.uuid4().hex[:8]}.e2e.test/metadata"
            idps[name] = make_idp(tmp_path_factory.mktemp(name), entity, key, sp, sp_der)
            iam.create_saml_provider(Name=name, SAMLMetadataDocument=_metadata(entity, key.cert_b64))
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": [_arn(n) for n in idps]},
            "Action": "sts:AssumeRoleWithSAML",
        }]}
        iam.create_role(RoleName="saml-rs", AssumeRolePolicyDocument=json.dumps(trust))
        yield Setup(server, sp, idps)
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


def _anonymous_sts(server: Server) -> Any:
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


@pytest.mark.parametrize("provider", [LISTED, BY_ARN])
def test_listed_provider_response_only_signature_becomes_credentials(setup: Setup, provider: str) -> None:
    user = f"ann-{provider}"
    out = _anonymous_sts(setup.server).assume_role_with_saml(
        RoleArn=ROLE, PrincipalArn=_arn(provider), SAMLAssertion=setup.response(provider, user))
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-rs/{user}"
    creds = out["Credentials"]
    session = setup.server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                                  token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    event = next(e for e in setup.audit("AssumeRoleWithSAML")
                 if (e.get("responseElements") or {}).get("Subject") == user)
    assert event["additionalEventData"]["samlSigned"] == {"response": True, "assertion": False}
    assert f"SAML provider {provider} is listed" in event["additionalEventData"]["samlResponseSignatureAccepted"]


def test_unlisted_provider_response_only_signature_is_refused_as_before(setup: Setup) -> None:
    sts = _anonymous_sts(setup.server)
    with pytest.raises(ClientError) as info:
        sts.assume_role_with_saml(RoleArn=ROLE, PrincipalArn=_arn(UNLISTED),
                                  SAMLAssertion=setup.response(UNLISTED, "bob"))
    error = info.value.response
    assert error["Error"]["Code"] == "InvalidIdentityToken"
    assert error["Error"]["Message"] == "Response signature invalid"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    refusal = [e for e in setup.audit("AssumeRoleWithSAML") if e.get("errorCode")][-1]
    assert "listing it in BROKER_SAML_RESPONSE_SIGNED_PROVIDERS" in refusal["additionalEventData"]["errorDetail"]
    # the same IdP signing the assertion too is accepted for the unlisted provider, as before
    out = sts.assume_role_with_saml(RoleArn=ROLE, PrincipalArn=_arn(UNLISTED),
                                    SAMLAssertion=setup.response(UNLISTED, "bob2", sign_assertion=True))
    assert out["AssumedRoleUser"]["Arn"].endswith("/saml-rs/bob2")


def test_browser_login_with_a_response_only_signature(setup: Setup) -> None:
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        picker = browser.post(setup.server.url + "/saml/acs", data={"SAMLResponse": setup.response(LISTED, "cat")})
        assert picker.status_code == 200, picker.text
        assert forms(picker.text)[0].radios["role_arn"] == [ROLE]
        page = submit(browser, picker, role_arn=ROLE)
        assert page.status_code == 200, page.text
        assert dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", page.text))["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        refused = browser.post(setup.server.url + "/saml/acs",
                               data={"SAMLResponse": setup.response(UNLISTED, "cat")})
        assert refused.status_code == 400
        assert "InvalidIdentityToken: Response signature invalid" in refused.text
    login = [e for e in setup.audit("SAMLLogin") if not e.get("errorCode")][-1]
    assert "samlResponseSignatureAccepted" in login["additionalEventData"]


def test_token_exchange_with_a_response_only_signature(setup: Setup) -> None:
    def exchange(token: str) -> httpx.Response:
        return httpx.post(setup.server.url + "/oauth2/token", timeout=30, data={
            "grant_type": GRANT, "subject_token": token, "subject_token_type": SAML2, "audience": ROLE,
            "requested_token_type": AWS_CREDS})

    ok = exchange(setup.response(BY_ARN, "dan"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["assumed_role_user"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-rs/dan"
    refused = exchange(setup.response(UNLISTED, "dan"))
    assert refused.status_code == 400 and refused.json()["aws_error_code"] == "InvalidIdentityToken"
