"""AssumeRoleWithWebIdentity on both stores: provider by exact issuer, trust with claims, session contents,
and every refusal with its AWS code and nothing minted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import (
    AccessDenied,
    BrokerError,
    ExpiredTokenException,
    IDPCommunicationError,
    InvalidIdentityToken,
    InvalidParameterValue,
    ValidationError,
)
from broker.federation.oidc.keys import KeySet, parse_jwks
from broker.principal import CallContext
from broker.service.authn import Authenticator, session_principal
from broker.service.authorize import PolicyAuthorizer
from broker.service.dispatch import IAM_COUNTER
from broker.service.env import OpEnv
from broker.service.iam import OPERATIONS as IAM
from broker.service.keyring import KeyringService
from broker.service.sts import sts_operations
from broker.service.web_identity import WebIdentityServices
from broker.store.sqlalchemy.store import SqlStore
from idp_fixtures.oidc.idp import OidcIdp
from tests.contract.conftest import ACCOUNT, SeededEntropy

ISSUER = "https://token.actions.githubusercontent.com"
P = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{P}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy"


class StaticKeys:
    def __init__(self, idp: OidcIdp) -> None:
        self.idp = idp
        self.down = False

    def keys(self, issuer: str, kid: str, provider: object = None) -> KeySet:
        if self.down:
            raise IDPCommunicationError("Couldn't retrieve verification key from your identity provider")
        assert issuer == self.idp.issuer
        return parse_jwks(self.idp.jwks())


def _trust(condition: Mapping[str, Any], *, tag: bool = False) -> str:
    actions = ["sts:AssumeRoleWithWebIdentity"] + (["sts:TagSession", "sts:SetSourceIdentity"] if tag else [])
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": actions, "Condition": condition}]})


PINNED = {"StringEquals": {f"{P}:aud": "sts.amazonaws.com"}, "StringLike": {f"{P}:sub": "repo:octo-org/octo-repo:*"}}


class World:
    def __init__(self, store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> None:
        self.store, self.clock, self.entropy, self.envelope = store, clock, entropy, envelope
        self.arns = ArnFactory(account=ACCOUNT)
        self.keyring = KeyringService(store, envelope, clock, entropy)
        self.keyring.ensure()
        self.idp = OidcIdp(issuer=ISSUER)
        self.keys = StaticKeys(self.idp)
        self.services = WebIdentityServices(keyring=self.keyring, keys=self.keys)
        self.ops = sts_operations(self.keyring, self.services)
        self.authorizer = PolicyAuthorizer(store)
        with store.transaction() as tx:
            tx.providers.create_oidc(PROVIDER, ISSUER, ["sts.amazonaws.com"], [], [], clock.now())

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def iam(self, action: str, **params: Any) -> dict[str, Any]:
        out = self.run(IAM[action], params, principal=True)
        if not action.startswith(("Get", "List")):  # as the dispatcher does: per-node caches follow the counter
            with self.store.transaction() as tx:
                tx.security.bump(IAM_COUNTER)
        return out

    def run(self, op: Any, params: Mapping[str, Any], principal: bool = False) -> dict[str, Any]:
        from broker.principal import Principal

        root = Principal(kind="root", arn=self.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                         identity_arn=self.arns.root()) if principal else None
        with self.store.transaction() as tx:
            call = CallContext(request_id="r", now=self.clock.now(), principal=root)
            return dict(op(OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope), params))

    def assume(self, token: str, **params: Any) -> dict[str, Any]:
        merged = {"RoleArn": ROLE, "RoleSessionName": "ci", "WebIdentityToken": token, **params}
        return self.run(self.ops["AssumeRoleWithWebIdentity"], merged)

    def token(self, **kw: Any) -> str:
        kw.setdefault("profile", "github")
        return self.idp.mint(now=self.now, **kw)


@pytest.fixture
def world(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED), MaxSessionDuration=7200)
    return w


def test_github_token_assumes_the_pinned_role(world: World) -> None:
    out = world.assume(world.token(), DurationSeconds=7200)
    assert out["SubjectFromWebIdentityToken"] == "repo:octo-org/octo-repo:ref:refs/heads/main"
    assert out["Audience"] == "sts.amazonaws.com"
    assert out["Provider"] == ISSUER
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci"
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":ci")
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert (out["Credentials"]["Expiration"] - world.clock.now()).total_seconds() == 7200
    assert "PackedPolicySize" not in out and "SourceIdentity" not in out
    authn = Authenticator(store=world.store, envelope=world.envelope, arns=world.arns, skew_seconds=300,
                          keyring=world.keyring)
    from broker.credentials.sigv4 import SigV4Auth

    auth = SigV4Auth(access_key_id=out["Credentials"]["AccessKeyId"], date="20260101", region="us-east-1",
                     service="sts", terminator="aws4_request", signed_headers=("host",), signature="0" * 64,
                     amz_date="20260101T120000Z", timestamp=world.clock.now(), presigned=False,
                     security_token=out["Credentials"]["SessionToken"])
    principal = session_principal(authn.open_session(auth, world.clock.now()), world.arns)
    assert principal.kind == "assumed-role"
    assert principal.federated_provider == PROVIDER
    assert principal.federated_subject == "repo:octo-org/octo-repo:ref:refs/heads/main"


def _refused(world: World, kind: type[BrokerError], token: str, **params: Any) -> BrokerError:
    with pytest.raises(kind) as info:
        world.assume(token, **params)
    return info.value


def test_other_repository_is_denied_naming_the_failed_condition(world: World) -> None:
    error = _refused(world, AccessDenied, world.token(sub="repo:evil/octo-repo:ref:refs/heads/main"))
    assert error.message == (
        f"Not authorized to perform sts:AssumeRoleWithWebIdentity: condition {P}:sub StringLike did not match"
    )
    assert "octo-org" not in error.message
    assert "repo:evil/octo-repo" in str(error.detail)  # the audit trace carries the request value
    assert "jti" in str(error.detail) and world.token() not in str(error.detail)


def test_unknown_role_is_refused_like_a_trust_failure(world: World) -> None:
    error = _refused(world, AccessDenied, world.token(), RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nope")
    assert error.message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


@pytest.mark.parametrize("issuer", [ISSUER + "/", ISSUER.upper(), "https://TOKEN.actions.githubusercontent.com",
                                    "https://token.actions.githubusercontent.com:443"])
def test_issuer_variants_are_not_the_registered_provider(world: World, issuer: str) -> None:
    token = world.idp.mint(now=world.now, profile="github", claims={"iss": issuer})
    error = _refused(world, InvalidIdentityToken, token)
    assert error.message == f"No OpenIDConnect provider found in your account for {issuer}"


def test_expired_and_wrong_audience(world: World) -> None:
    assert _refused(world, ExpiredTokenException, world.idp.mint(now=world.now - 1000, lifetime=300)).code == (
        "ExpiredTokenException"
    )
    assert _refused(world, InvalidIdentityToken, world.token(audience="other")).message == "Incorrect token audience"


def test_idp_unreachable_is_idp_communication_error(world: World) -> None:
    world.keys.down = True
    assert _refused(world, IDPCommunicationError, world.token()).code == "IDPCommunicationError"


def test_duration_above_role_maximum_is_validation_error(world: World) -> None:
    error = _refused(world, ValidationError, world.token(), DurationSeconds=7201)
    assert error.message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


def test_provider_id_is_refused_for_oidc(world: World) -> None:
    assert _refused(world, InvalidParameterValue, world.token(), ProviderId="www.amazon.com").code == (
        "InvalidParameterValue"
    )


def test_session_tags_need_tag_session_in_trust(world: World) -> None:
    claims = {"https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]}}
    error = _refused(world, AccessDenied, world.token(claims=claims))
    assert error.message.startswith("Not authorized to perform sts:TagSession")
    world.iam("UpdateAssumeRolePolicy", RoleName="deploy", PolicyDocument=_trust(PINNED, tag=True))
    claims["https://aws.amazon.com/source_identity"] = "alice"  # type: ignore[assignment]
    out = world.assume(world.token(claims=claims))
    assert out["SourceIdentity"] == "alice"
    assert isinstance(out["PackedPolicySize"], int)


def test_nested_kubernetes_claims_in_trust(world: World) -> None:
    trust = _trust({"StringEquals": {f"{P}:kubernetes.io/namespace": "payments",
                                     f"{P}:kubernetes.io/serviceaccount/name": "deployer"}})
    world.iam("UpdateAssumeRolePolicy", RoleName="deploy", PolicyDocument=trust)
    world.assume(world.token(profile="kubernetes"))
    other = world.idp.mint(now=world.now, profile="kubernetes",
                           claims={"kubernetes.io": {"namespace": "dev", "serviceaccount": {"name": "deployer"}}})
    error = _refused(world, AccessDenied, other)
    assert error.message.endswith(f"condition {P}:kubernetes.io/namespace StringEquals did not match")


def test_session_policy_limits_and_is_packed(world: World) -> None:
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    out = world.assume(world.token(), Policy=policy)
    assert 0 < out["PackedPolicySize"] <= 100
