"""Pinned JWKS on both stores: pin, use with no network at all, unpin, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import pytest

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import IDPCommunicationError, InvalidIdentityToken, InvalidInput, NoSuchEntity
from broker.federation.oidc.fetch import Fetched, FetchError
from broker.federation.oidc.jwks import JwksCache
from broker.service.providers.oidc import PINNED_JWKS_OPERATIONS as OPS
from broker.service.sts import sts_operations
from broker.service.web_identity import WebIdentityServices
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy
from tests.contract.test_web_identity import PINNED, PROVIDER, World, _trust


class NoNetwork:
    def __init__(self) -> None:
        self.calls = 0

    def fetch(self, issuer: str, thumbprints: Collection[str] = ()) -> Fetched:
        self.calls += 1
        raise FetchError(f"{issuer}: no network here")


@pytest.fixture
def wi(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.network = NoNetwork()  # type: ignore[attr-defined]
    w.services = WebIdentityServices(keyring=w.keyring, keys=JwksCache(w.network, clock))  # type: ignore[attr-defined]
    w.ops = sts_operations(w.keyring, w.services)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED))
    return w


def _op(wi: World, action: str, **params: Any) -> dict[str, Any]:
    out = wi.run(OPS[action], {"OpenIDConnectProviderArn": PROVIDER, **params}, principal=True)
    return out


def test_pinned_keys_verify_tokens_without_any_fetch(wi: World) -> None:
    with pytest.raises(IDPCommunicationError):  # before pinning: the issuer is unreachable from here
        wi.assume(wi.token())
    out = _op(wi, "PutOpenIDConnectProviderJwks", Jwks=json.dumps(wi.idp.jwks()))
    assert out["KeySource"] == "pinned"
    assert out["PinnedKeyIds"] == [k["kid"] for k in wi.idp.jwks()["keys"]]
    fetches = wi.network.calls  # type: ignore[attr-defined]
    assert wi.assume(wi.token())["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert wi.network.calls == fetches  # type: ignore[attr-defined]
    with wi.store.transaction() as tx:
        assert json.loads(tx.providers.get_oidc(PROVIDER).pinned_jwks or "") == wi.idp.jwks()


def test_a_key_outside_the_pinned_set_is_refused(wi: World) -> None:
    _op(wi, "PutOpenIDConnectProviderJwks", Jwks=json.dumps(wi.idp.jwks()))
    wi.idp.rotate(None, retire_previous=True)  # the IdP signs with a key nobody pinned
    with pytest.raises(InvalidIdentityToken):
        wi.assume(wi.token())
    assert wi.network.calls == 0  # type: ignore[attr-defined]


def test_unpin_returns_to_fetching(wi: World) -> None:
    _op(wi, "PutOpenIDConnectProviderJwks", Jwks=json.dumps(wi.idp.jwks()))
    out = _op(wi, "DeleteOpenIDConnectProviderJwks")
    assert out["KeySource"] == "fetched" and out["PinnedKeyIds"] is None
    assert _op(wi, "DeleteOpenIDConnectProviderJwks")["KeySource"] == "fetched"  # idempotent
    with pytest.raises(IDPCommunicationError):
        wi.assume(wi.token())
    assert _op(wi, "DescribeOpenIDConnectProviderKeys")["KeySource"] == "fetched"


@pytest.mark.parametrize("doc", ["", "{", '{"keys": []}', '{"keys": [{"kty": "oct", "kid": "h", "k": "AA"}]}'])
def test_bad_documents_are_refused_and_nothing_is_stored(wi: World, doc: str) -> None:
    with pytest.raises(InvalidInput):
        _op(wi, "PutOpenIDConnectProviderJwks", Jwks=doc)
    with wi.store.transaction() as tx:
        assert tx.providers.get_oidc(PROVIDER).pinned_jwks is None  # type: ignore[union-attr]


def test_private_keys_are_refused(wi: World) -> None:
    jwks = wi.idp.jwks()
    jwks["keys"][0]["d"] = "AAAA"
    with pytest.raises(InvalidInput, match="private key material"):
        _op(wi, "PutOpenIDConnectProviderJwks", Jwks=json.dumps(jwks))


def test_unknown_provider(wi: World) -> None:
    with pytest.raises(NoSuchEntity):
        wi.run(OPS["PutOpenIDConnectProviderJwks"], {
            "OpenIDConnectProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/nowhere.example",
            "Jwks": json.dumps(wi.idp.jwks())}, principal=True)
