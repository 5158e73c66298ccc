"""Two ``broker serve`` processes on one PostgreSQL schema, started together, one BROKER_PUBLIC_URL (behind a
load balancer): one SAML SP key pair in the store's keyring, the same certificates in both metadata documents,
and an assertion encrypted to one node's metadata is accepted by the other (AssumeRoleWithSAML)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from idp_fixtures.saml.idp import SamlIdp, User
from tests.e2e.conftest import ACCOUNT, Server, make_store, start_server, stop_server

pytestmark = pytest.mark.e2e

PUBLIC = "https://broker.lb.example.test"
PROVIDER_NAME = "corp-two-nodes"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER_NAME}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/saml-two-nodes"
MD = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    spec = make_store("postgresql")
    env = {"BROKER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(), "BROKER_PUBLIC_URL": PUBLIC}
    home = tmp_path_factory.mktemp("saml-two-nodes")
    started: dict[str, Server] = {}
    errors: list[BaseException] = []

    def start(name: str) -> None:  # both nodes start at once: each may create the SP key
        try:
            started[name] = start_server(home / name, spec.name, spec.url, env)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        yield started["a"], started["b"]
    finally:
        for server in started.values():
            stop_server(server)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _certificates(server: Server, use: str) -> list[bytes]:
    r = httpx.get(server.url + "/saml/metadata")
    assert r.status_code == 200
    root = etree.fromstring(r.content)
    path = f"md:SPSSODescriptor/md:KeyDescriptor[@use='{use}']/ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    return [base64.b64decode(e.text or "") for e in root.iterfind(path, MD)]


def test_both_nodes_publish_one_key_and_decrypt_each_others_assertions(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    assert _certificates(a, "encryption") == _certificates(b, "encryption")
    assert _certificates(a, "signing") == _certificates(b, "signing")
    assert len(_certificates(a, "encryption")) == 1

    idp = SamlIdp(entity_id=f"https://idp-{uuid.uuid4().hex[:8]}.fixture.test/saml", sign="assertion",
                  sp_entity_id=PUBLIC + "/saml/metadata", sp_acs_url=PUBLIC + "/saml/acs")
    idp.add_user(User.aws("alice", [(ROLE_ARN, PROVIDER_ARN)], "alice@example.com"))
    iam = a.client("iam")
    iam.create_saml_provider(Name=PROVIDER_NAME, SAMLMetadataDocument=idp.metadata())
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML"}]}
    iam.create_role(RoleName="saml-two-nodes", AssumeRolePolicyDocument=json.dumps(trust))
    try:
        for published_by, asked in ((a, b), (b, a)):
            cert = x509.load_der_x509_certificate(_certificates(published_by, "encryption")[0])
            idp.encrypt_to_cert_pem = cert.public_bytes(Encoding.PEM)
            out = asked.client("sts").assume_role_with_saml(
                RoleArn=ROLE_ARN, PrincipalArn=PROVIDER_ARN, SAMLAssertion=idp.response_b64())
            arn = out["AssumedRoleUser"]["Arn"]
            assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-two-nodes/alice@example.com"
    finally:
        iam.delete_role(RoleName="saml-two-nodes")
        iam.delete_saml_provider(SAMLProviderArn=PROVIDER_ARN)
