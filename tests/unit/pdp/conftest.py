"""A small broker world on SQLite for the PDP tests: a role with policies, a user who assumes it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.credentials.sigv4 import SignedRequest, sign
from broker.pdp import BearerVerifier, CachingAuthorizer, PolicyDecisionPoint
from broker.principal import CallContext, Principal
from broker.service.authn import Authenticator
from broker.service.env import OpEnv
from broker.service.iam import OPERATIONS as IAM
from broker.service.keyring import KeyringService
from broker.service.sts import sts_operations
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import SeededEntropy

ACCOUNT = "123456789012"
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"
ISSUER = "https://broker.example"
AUDIENCE = "https://svc.example"
ASSUME_ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


APP_POLICY = doc(
    {"Sid": "ReadThings", "Effect": "Allow", "Action": "example:Get*", "Resource": "arn:aws:example:::thing/*"},
    {"Sid": "NoSecrets", "Effect": "Deny", "Action": "example:*", "Resource": "arn:aws:example:::thing/secret"},
    {"Sid": "TaggedWrite", "Effect": "Allow", "Action": "example:PutThing", "Resource": "*",
     "Condition": {"StringEquals": {"example:color": "blue"}}},
)


class World:
    def __init__(self, store: SqlStore, clock: FixedClock) -> None:
        self.store, self.clock = store, clock
        self.entropy = SeededEntropy()
        self.envelope = Envelope(bytes(range(32)), self.entropy)
        self.arns = ArnFactory(account=ACCOUNT)
        self.keyring = KeyringService(store, self.envelope, clock, self.entropy)
        self.keyring.ensure()
        self.sts = sts_operations(self.keyring)
        self.root = Principal(kind="root", arn=self.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                              identity_arn=self.arns.root())
        self.authorizer = CachingAuthorizer(store)
        self.authenticator = Authenticator(store=store, envelope=self.envelope, arns=self.arns, skew_seconds=300,
                                           keyring=self.keyring)
        self.bearer = BearerVerifier(lambda: self.keyring.keyring, issuer=ISSUER, audiences=[AUDIENCE],
                                     arns=self.arns, skew_seconds=60)
        self.pdp = PolicyDecisionPoint(authenticator=self.authenticator, authorizer=self.authorizer, clock=clock,
                                       bearer=self.bearer, entropy=self.entropy)

    def run(self, action: str, principal: Principal | None = None, **params: Any) -> dict[str, Any]:
        op = self.sts.get(action) or IAM[action]
        with self.store.transaction() as tx:
            call = CallContext(request_id="r", now=self.clock.now(), principal=principal or self.root)
            env = OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope)
            return dict(op(env, params))

    def assume(self, **params: Any) -> dict[str, Any]:
        """Credentials for a session of role ``app`` (assumed by user ``bob``)."""
        bob = self.run("GetUser", UserName="bob")["User"]
        who = Principal(kind="user", arn=bob["Arn"], account=ACCOUNT, user_id=bob["UserId"], name="bob",
                        identity_arn=bob["Arn"])
        creds: dict[str, Any] = self.run("AssumeRole", who, RoleArn=ROLE_ARN, RoleSessionName="s1", **params)[
            "Credentials"
        ]
        return creds

    def signed(self, creds: dict[str, Any], *, path: str = "/things/1", method: str = "GET",
               service: str = "example", body: bytes = b"", host: str = "svc.example") -> SignedRequest:
        base = SignedRequest.build(method, path, "", [("Host", host)], body)
        return sign(base, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", service, self.clock.now(),
                    session_token=creds.get("SessionToken"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    Base.metadata.create_all(engine)
    store = SqlStore(engine)
    w = World(store, FixedClock(START))
    w.run("CreateRole", RoleName="app", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": ASSUME_ACTIONS}))
    w.run("PutRolePolicy", RoleName="app", PolicyName="p", PolicyDocument=APP_POLICY)
    w.run("CreateUser", UserName="bob")
    w.run("PutUserPolicy", UserName="bob", PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ASSUME_ACTIONS, "Resource": "*"}))
    try:
        yield w
    finally:
        store.dispose()


class AsgiClient:
    """A synchronous client over httpx's ASGI transport (Starlette's TestClient wants httpx2)."""

    def __init__(self, app: Any, base_url: str = "http://svc.example") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kw)

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)
