"""Thumbprints and pinned JWKS end to end (``broker serve``, both stores, boto3 and the ``broker`` CLI):

- the fixture IdP over real HTTPS on loopback, its CA in ``BROKER_CA_BUNDLE``, the provider created with the
  intermediate CA's thumbprint: tokens verify; after ``UpdateOpenIDConnectProviderThumbprint`` to a list
  without it, the keys fetched through it are no longer used and the refetch fails closed
  (``IDPCommunicationError``);
- a provider whose issuer is unreachable (no discovery at all) with its JWKS pinned by
  ``broker oidc-provider pin-jwks``: tokens verify with no fetch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from idp_fixtures.oidc.idp import OidcIdp
from idp_fixtures.oidc.tls import Pki, TlsIdpServer, make_pki
from tests.e2e.conftest import ACCOUNT, Server, make_store, start_server, stop_server
from tests.e2e.test_web_identity_e2e import _sts

pytestmark = pytest.mark.e2e
AIRGAP = "https://kubernetes.airgap.invalid"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("e2e-pki"))


@pytest.fixture(scope="module")
def tls(pki: Pki) -> Iterator[TlsIdpServer]:
    with TlsIdpServer(pki) as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Server]:
    spec = make_store(request.param)
    home = tmp_path_factory.mktemp(f"broker-pin-{spec.name}")
    srv = start_server(home, spec.name, spec.url, {"BROKER_CA_BUNDLE": str(pki.ca_bundle),
                                                   "BROKER_OIDC_MIN_REFETCH_SECONDS": "0"})
    try:
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _role(server: Server, name: str, issuer: str) -> str:
    prefix = issuer.split("://", 1)[1]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{prefix}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{prefix}:aud": "sts.amazonaws.com"}}}]}
    return str(server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
               ["Role"]["Arn"])


def _assume(server: Server, role: str, idp: OidcIdp) -> Any:
    token = idp.mint(now=int(time.time()), profile="github", sub="repo:octo-org/octo-repo:ref:refs/heads/main")
    return _sts(server).assume_role_with_web_identity(RoleArn=role, RoleSessionName="pin", WebIdentityToken=token)


def test_thumbprint_pinned_provider(server: Server, tls: TlsIdpServer, pki: Pki) -> None:
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(Url=tls.issuer, ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=[pki.thumbprints["intermediate"]])
    role = _role(server, "tls-pinned", tls.issuer)
    assert _assume(server, role, tls.idp)["Credentials"]["AccessKeyId"].startswith("ASIA")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn["OpenIDConnectProviderArn"],
                                                   ThumbprintList=["0" * 40])
    time.sleep(1.2)  # the node's provider lookup follows the change counter
    with pytest.raises(ClientError) as info:
        _assume(server, role, tls.idp)
    assert info.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _cli(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broker", "oidc-provider", *args], env=server.env, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_pinned_jwks_for_an_issuer_without_discovery(server: Server, tmp_path: Path) -> None:
    idp = OidcIdp(issuer=AIRGAP)
    arn = server.client("iam").create_open_id_connect_provider(
        Url=AIRGAP, ClientIDList=["sts.amazonaws.com"])["OpenIDConnectProviderArn"]
    role = _role(server, "airgap", AIRGAP)
    with pytest.raises(ClientError) as info:  # nothing to fetch from
        _assume(server, role, idp)
    assert info.value.response["Error"]["Code"] == "IDPCommunicationError"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks()))
    done = _cli(server, "pin-jwks", arn, str(jwks))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["KeySource"] == "pinned"
    time.sleep(1.2)
    out = _assume(server, role, idp)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/airgap/pin"
    bad = _cli(server, "pin-jwks", arn, "-", stdin='{"keys": [{"kty": "oct", "kid": "x", "k": "AA"}]}')
    assert bad.returncode == 1 and bad.stderr.startswith("InvalidInput: The JWK Set cannot be pinned")
    shown = _cli(server, "show", arn)
    assert json.loads(shown.stdout)["PinnedKeyIds"] == [k["kid"] for k in idp.jwks()["keys"]]
