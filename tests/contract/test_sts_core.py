"""STS core on both stores: keyring service, AssumeRole/GetSessionToken refusals, ASIA authentication edges."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.authz_message import build_message, seal_message
from broker.credentials.envelope import Envelope
from broker.credentials.keyring import MAX_TOKEN_LIFETIME
from broker.credentials.sigv4 import SigV4Auth
from broker.errors import (
    AccessDenied,
    BrokerError,
    ExpiredToken,
    InvalidAuthorizationMessageException,
    InvalidClientTokenId,
    PackedPolicyTooLarge,
    ValidationError,
)
from broker.principal import CallContext, Principal
from broker.service.authn import Authenticator
from broker.service.authorize import PolicyAuthorizer
from broker.service.env import OpEnv
from broker.service.iam import OPERATIONS as IAM
from broker.service.keyring import KeyringService
from broker.service.sts import sts_operations
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class World:
    def __init__(self, store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> None:
        self.store, self.clock, self.entropy = store, clock, entropy
        self.arns = ArnFactory(account=ACCOUNT)
        self.keyring = KeyringService(store, envelope, clock, entropy)
        self.keyring.ensure()
        self.authorizer = PolicyAuthorizer(store)
        self.sts = sts_operations(self.keyring)
        self.envelope = envelope
        self.root = Principal(kind="root", arn=self.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                              identity_arn=self.arns.root())

    def run(self, action: str, principal: Principal | None = None, **params: Any) -> dict[str, Any]:
        op = self.sts.get(action) or IAM[action]
        with self.store.transaction() as tx:
            call = CallContext(request_id="r", now=self.clock.now(), principal=principal or self.root)
            env = OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope)
            return dict(op(env, params))

    def user(self, name: str, policy: str | None = None) -> Principal:
        out = self.run("CreateUser", UserName=name)["User"]
        if policy:
            self.run("PutUserPolicy", UserName=name, PolicyName="p", PolicyDocument=policy)
        return Principal(kind="user", arn=out["Arn"], account=ACCOUNT, user_id=out["UserId"], name=name,
                         identity_arn=out["Arn"])

    def session(self, creds: Mapping[str, Any]) -> Principal:
        authn = Authenticator(store=self.store, envelope=self.envelope, arns=self.arns, skew_seconds=300,
                              keyring=self.keyring)
        auth = SigV4Auth(access_key_id=creds["AccessKeyId"], date="20260101", region="us-east-1", service="sts",
                         terminator="aws4_request", signed_headers=("host",), signature="0" * 64,
                         amz_date="20260101T120000Z", timestamp=self.clock.now(), presigned=False,
                         security_token=creds["SessionToken"])
        from broker.service.authn import session_principal

        return session_principal(authn.open_session(auth, self.clock.now()), self.arns)


@pytest.fixture
def world(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.run("CreateRole", RoleName="app", MaxSessionDuration=7200, AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": ["sts:AssumeRole"]}))
    w.run("PutRolePolicy", RoleName="app", PolicyName="p", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:ListRoles"], "Resource": "*"}))
    return w


ALLOW_ASSUME = _doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})


def _refused(world: World, error: type[BrokerError], message: str | None, who: Principal, **params: Any) -> None:
    with pytest.raises(error) as exc:
        world.run("AssumeRole", who, **{"RoleArn": ROLE, "RoleSessionName": "s", **params})
    if message is not None:
        assert exc.value.message == message
    assert world.run("GetRole", RoleName="app")["Role"].get("RoleLastUsed", {}).get("LastUsedDate") is None


def test_keyring_service_rotation_purge_and_second_node(world: World, store: SqlStore, envelope: Envelope) -> None:
    first = world.keyring.keyring.current("session-token", world.clock.now())
    other = KeyringService(store, envelope, world.clock, world.entropy)
    other.ensure()
    assert other.keyring.current("session-token", world.clock.now()).key_id == first.key_id
    world.clock.advance(10)
    new = world.keyring.rotate("session-token")
    assert new.key_id != first.key_id
    assert other.refresh() is True and other.refresh() is False
    assert other.keyring.current("session-token", world.clock.now()).key_id == new.key_id
    assert other.keyring.by_kid(first.key_id) is not None  # retired, still verifies
    world.clock.advance(MAX_TOKEN_LIFETIME.total_seconds() - 1)
    assert world.keyring.purge() == []
    world.clock.advance(1)
    assert world.keyring.purge() == [first.key_id]
    # The schedule: nothing is due until an active key is older than rotate_after.
    world.keyring.rotate_after = timedelta(days=30)
    assert world.keyring.maybe_rotate() == []
    world.clock.advance(timedelta(days=30).total_seconds())
    assert {k.purpose for k in world.keyring.maybe_rotate()} == {"session-token", "jwt-signing"}
    assert "**********" not in repr(world.keyring) and first.secret.hex() not in repr(world.keyring)


def test_assume_role_and_session_expiry_edges(world: World) -> None:
    dev = world.user("dev", ALLOW_ASSUME)
    out = world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="s", DurationSeconds=900)
    session = world.session(out["Credentials"])
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s"
    assert session.user_id == out["AssumedRoleUser"]["AssumedRoleId"]
    assert session.token_issued_at == world.clock.now().replace(microsecond=0)
    world.clock.advance(899)
    assert world.session(out["Credentials"]).session_name == "s"
    world.clock.advance(1)
    with pytest.raises(ExpiredToken) as exc:
        world.session(out["Credentials"])
    assert exc.value.message == "The security token included in the request is expired"


def test_asia_key_must_match_token(world: World) -> None:
    dev = world.user("dev", ALLOW_ASSUME)
    a = world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="a")["Credentials"]
    b = world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="b")["Credentials"]
    with pytest.raises(InvalidClientTokenId) as exc:
        world.session({**a, "SessionToken": b["SessionToken"]})
    assert exc.value.message == "The security token included in the request is invalid."
    assert "belongs to" in exc.value.detail


def test_bad_input_refused_and_nothing_issued(world: World) -> None:
    dev = world.user("dev", ALLOW_ASSUME)
    _refused(world, AccessDenied, "Roles may not be assumed by root accounts.", world.root)
    too_long = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    _refused(world, ValidationError, too_long, dev, DurationSeconds=7201)
    _refused(world, ValidationError, "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
             dev, Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])
    _refused(world, ValidationError, None, dev, Tags=[{"Key": "aws:k", "Value": "1"}])
    # Tags need sts:TagSession on both sides; the trust policy only allows sts:AssumeRole.
    denied = f"User: {dev.arn} is not authorized to perform: %s on resource: {ROLE}"
    _refused(world, AccessDenied, denied % "sts:TagSession", dev, Tags=[{"Key": "k", "Value": "1"}])
    big = _doc(*({"Effect": "Allow", "Action": f"s3:Get{i}x{'y' * 40}", "Resource": "*"} for i in range(60)))
    with pytest.raises((PackedPolicyTooLarge, ValidationError)):
        world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="s", Policy=big)
    # A trust policy that names someone else does not admit the caller, however its identity policy reads.
    world.run("UpdateAssumeRolePolicy", RoleName="app", PolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"},
         "Action": "sts:AssumeRole"}))
    _refused(world, AccessDenied, denied % "sts:AssumeRole", dev)
    _refused(world, AccessDenied, None, dev, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/missing")


def test_trust_policy_naming_user_suffices_without_identity_policy(world: World) -> None:
    dev = world.user("dev")
    world.run("UpdateAssumeRolePolicy", RoleName="app", PolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": dev.arn}, "Action": "sts:AssumeRole"}))
    assert world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="direct")["Credentials"]["AccessKeyId"]


def test_chain_limit_and_source_identity_immutable(world: World) -> None:
    dev = world.user("dev", _doc({"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                                  "Resource": "*"}))
    world.run("UpdateAssumeRolePolicy", RoleName="app", PolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}))
    world.run("PutRolePolicy", RoleName="app", PolicyName="p", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": "*"}))
    s = world.session(world.run("AssumeRole", dev, RoleArn=ROLE, RoleSessionName="a", SourceIdentity="alice")
                      ["Credentials"])
    assert s.source_identity == "alice"
    with pytest.raises(ValidationError) as exc:
        world.run("AssumeRole", s, RoleArn=ROLE, RoleSessionName="b", DurationSeconds=3601)
    assert exc.value.message == ("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                                 "by role chaining.")
    with pytest.raises(ValidationError):
        world.run("AssumeRole", s, RoleArn=ROLE, RoleSessionName="b", SourceIdentity="mallory")
    chained = world.session(world.run("AssumeRole", s, RoleArn=ROLE, RoleSessionName="b")["Credentials"])
    assert chained.source_identity == "alice" and chained.chain_depth == 2


def test_get_session_token_durations(world: World) -> None:
    dev = world.user("dev")
    out = world.run("GetSessionToken", dev)["Credentials"]
    assert out["Expiration"] == world.clock.now().replace(microsecond=0) + timedelta(seconds=43200)
    root = world.run("GetSessionToken", world.root, DurationSeconds=129600)["Credentials"]
    assert root["Expiration"] == world.clock.now().replace(microsecond=0) + timedelta(seconds=3600)
    temp = world.session(out)
    assert temp.kind == "user" and temp.temporary and temp.arn == dev.arn
    with pytest.raises(AccessDenied) as exc:
        world.run("GetSessionToken", temp)
    assert exc.value.message == "Cannot call GetSessionToken with session credentials"
    with pytest.raises(AccessDenied):
        world.run("ListRoles", temp)


def test_decode_authorization_message(world: World) -> None:
    message = build_message(allowed=False, explicit_deny=False, matched=[], action="iam:ListUsers",
                            principal={"id": "AIDA", "name": "dev", "arn": "arn"}, resource="*",
                            conditions={"aws:username": "dev", "aws:MultiFactorAuthPresent": False})
    encoded = seal_message(message, world.keyring.keyring, now=world.clock.now(), entropy=world.entropy)
    decoded = json.loads(world.run("DecodeAuthorizationMessage", EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["context"]["action"] == "iam:ListUsers"
    assert decoded["context"]["conditions"][0] == {"item": {"key": "aws:MultiFactorAuthPresent", "values": ["false"]}}
    dev = world.user("dev")
    with pytest.raises(AccessDenied):
        world.run("DecodeAuthorizationMessage", dev, EncodedMessage=encoded)
    with pytest.raises(InvalidAuthorizationMessageException):
        world.run("DecodeAuthorizationMessage", EncodedMessage=encoded[:-4] + "AAAA")
    world.clock.advance(12 * 3600)
    with pytest.raises(InvalidAuthorizationMessageException):
        world.run("DecodeAuthorizationMessage", EncodedMessage=encoded)


def test_caller_identity_and_access_key_info(world: World) -> None:
    dev = world.user("dev")
    assert world.run("GetCallerIdentity", dev) == {"UserId": dev.user_id, "Account": ACCOUNT, "Arn": dev.arn}
    assert world.run("GetAccessKeyInfo", AccessKeyId="ASIAAAAAAAAAAAAAAAAA") == {"Account": ACCOUNT}
