"""AssumeRoleWithSAML with boto3 against the running server, with responses from two independent IdPs: the
fixture IdP (xmlsec module) and pysaml2 (the xmlsec1 program). Credentials work; refusals carry AWS codes and
never a 5xx; a replayed assertion is refused."""

from __future__ import annotations

import base64
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from broker.federation.saml.config import sp_config
from idp_fixtures.saml import SamlIdp, User
from idp_fixtures.saml.keys import generate_key_pair
from tests.e2e.conftest import ACCOUNT, Server

sys.path.insert(0, str(Path(__file__).parents[1] / "interop" / "pysaml2"))
from pysaml2_idp import XMLSEC1, make_idp, response_b64

pytestmark = pytest.mark.e2e

PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/e2e-fixture"
PYSAML2_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/e2e-pysaml2"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/saml-e2e"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
NAME_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"


def _pysaml2_metadata(entity: str, cert_b64: str) -> str:
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
 <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate>
  </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
   Location="https://pysaml2.example.org/sso"/>
 </md:IDPSSODescriptor>
</md:EntityDescriptor>""" + " " * 600


@pytest.fixture(scope="module")
def setup(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    fixture = SamlIdp(entity_id=f"https://idp-{uuid.uuid4().hex[:8]}.e2e.test/saml", sign="both",
                      sp_entity_id=server.url + "/saml/metadata", sp_acs_url=server.url + "/saml/acs")
    fixture.add_user(User.aws("carol", [(ROLE, PROVIDER)], "carol"))
    pysaml2_key = generate_key_pair("e2e-pysaml2")
    pysaml2_entity = f"https://pysaml2-{uuid.uuid4().hex[:8]}.e2e.test/metadata"
    sp = sp_config(server.url)
    sp_der = x509.load_pem_x509_certificate(generate_key_pair("e2e-sp").cert_pem).public_bytes(Encoding.DER)
    pysaml2 = make_idp(tmp_path_factory.mktemp("pysaml2"), pysaml2_entity, pysaml2_key, sp, sp_der)
    iam = server.client("iam")
    iam.create_saml_provider(Name="e2e-fixture", SAMLMetadataDocument=fixture.metadata())
    iam.create_saml_provider(Name="e2e-pysaml2",
                             SAMLMetadataDocument=_pysaml2_metadata(pysaml2_entity, pysaml2_key.cert_b64))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": [PROVIDER, PYSAML2_PROVIDER]},
        "Action": "sts:AssumeRoleWithSAML", "Condition": {"StringEquals": {"saml:aud": server.url + "/saml/acs"}},
    }]}
    iam.create_role(RoleName="saml-e2e", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="saml-e2e", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    yield {"fixture": fixture, "pysaml2": pysaml2, "sp": sp}
    iam.delete_role_policy(RoleName="saml-e2e", PolicyName="read")
    iam.delete_role(RoleName="saml-e2e")
    iam.delete_saml_provider(SAMLProviderArn=PROVIDER)
    iam.delete_saml_provider(SAMLProviderArn=PYSAML2_PROVIDER)


def _anonymous_sts(server: Server) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def test_fixture_idp_response_becomes_working_credentials(server: Server, setup: dict[str, Any]) -> None:
    sts = _anonymous_sts(server)
    out = sts.assume_role_with_saml(RoleArn=ROLE, PrincipalArn=PROVIDER,
                                    SAMLAssertion=setup["fixture"].response_b64("carol"))
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-e2e/carol"
    assert (out["Subject"], out["SubjectType"]) == ("carol", "persistent")
    assert out["Audience"] == server.url + "/saml/acs" and out["Issuer"] == setup["fixture"].entity_id
    assert len(base64.b64decode(out["NameQualifier"])) == 20
    creds = out["Credentials"]
    session = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                            token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    iam = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert any(r["RoleName"] == "saml-e2e" for r in iam.list_roles()["Roles"])


@pytest.mark.skipif(XMLSEC1 is None, reason="the xmlsec1 program is not installed")
def test_pysaml2_response_is_accepted_and_replay_refused(server: Server, setup: dict[str, Any]) -> None:
    sts = _anonymous_sts(server)
    message = response_b64(setup["pysaml2"], setup["sp"], name_id="dave",
                           attributes={ROLE_ATTR: [f"{PYSAML2_PROVIDER},{ROLE}"], NAME_ATTR: ["dave"]},
                           sign_response=True, sign_assertion=True)
    out = sts.assume_role_with_saml(RoleArn=ROLE, PrincipalArn=PYSAML2_PROVIDER, SAMLAssertion=message)
    assert out["AssumedRoleUser"]["Arn"].endswith("/saml-e2e/dave")
    with pytest.raises(ClientError) as info:
        sts.assume_role_with_saml(RoleArn=ROLE, PrincipalArn=PYSAML2_PROVIDER, SAMLAssertion=message)
    assert info.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(("fault", "code", "status"), [
    ("xsw-before", "InvalidIdentityToken", 400),
    ("nameid-comment", "InvalidIdentityToken", 400),
    ("billion-laughs", "InvalidIdentityToken", 400),
    ("tamper-nameid", "InvalidIdentityToken", 400),
])
def test_bad_responses_are_refused_without_5xx(server: Server, setup: dict[str, Any], fault: str, code: str,
                                               status: int) -> None:
    idp: SamlIdp = setup["fixture"]
    idp.fault = fault
    try:
        message = idp.response_b64("carol")
    finally:
        idp.fault = None
    with pytest.raises(ClientError) as info:
        _anonymous_sts(server).assume_role_with_saml(RoleArn=ROLE, PrincipalArn=PROVIDER, SAMLAssertion=message)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_role_not_in_assertion_is_access_denied(server: Server, setup: dict[str, Any]) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/not-granted"
    with pytest.raises(ClientError) as info:
        _anonymous_sts(server).assume_role_with_saml(RoleArn=other, PrincipalArn=PROVIDER,
                                                     SAMLAssertion=setup["fixture"].response_b64("carol"))
    assert info.value.response["Error"] == {"Type": "Sender", "Code": "AccessDenied",
                                            "Message": "Not authorized to perform sts:AssumeRoleWithSAML"}
