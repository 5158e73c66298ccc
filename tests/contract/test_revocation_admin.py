"""The admin revocation API in process on both engines: root-only, SigV4 for service ``broker``, JSON errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker.api.admin import install_admin, revocation_set_for
from broker.api.app import create_app
from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.ids import SystemEntropy
from broker.store.sqlalchemy.repositories.iam_records import UserRecord
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, MASTER_KEY, count_rows

ROOT = ("AKIAADMINTESTROOT001", "r" * 40)
USER = ("AKIAADMINTESTUSER001", "u" * 40)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def client(store: SqlStore, tmp_path: Path) -> Iterator[AsgiClient]:
    envelope = Envelope(MASTER_KEY, SystemEntropy())
    now = datetime.now(UTC)
    with store.transaction() as tx:
        tx.iam.seed_root_access_key(ROOT[0], envelope.seal(ROOT[1].encode(), aad=f"access-key:{ROOT[0]}".encode()), now)
        tx.iam.create_user(UserRecord("AIDAADMINTESTUSER0001", "ops", "/", now, None))
        tx.iam.create_access_key(
            USER[0], "AIDAADMINTESTUSER0001", envelope.seal(USER[1].encode(), aad=f"access-key:{USER[0]}".encode()), now
        )
        tx.iam.put_inline(
            "user",
            "AIDAADMINTESTUSER0001",
            "all",
            json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
    settings = Settings(home=tmp_path, account_id=ACCOUNT, master_key=base64.b64encode(MASTER_KEY).decode())
    app = create_app(settings, store=store)
    install_admin(app, app.state.broker, revocation_set_for(store, poll_seconds=0.2))
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())  # starts the revocation set, as uvicorn would
    try:
        yield AsgiClient(app, loop)
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
    assert app.state.revocations._thread is None  # stopped with the app


class AsgiClient:
    """A synchronous client over httpx's ASGI transport (Starlette's AsgiClient wants httpx2)."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kw)

        return self.loop.run_until_complete(go())

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


def send(
    tc: AsgiClient,
    method: str,
    body: dict[str, Any] | None = None,
    *,
    key: tuple[str, str] = ROOT,
    service: str = "broker",
) -> httpx.Response:
    url = "http://testserver/admin/revocations"
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(*key), service, "eu-west-1").add_auth(req)
    return tc.request(method, url, content=data, headers=dict(req.headers.items()))


def test_root_revokes_a_role_and_the_node_sees_it_at_once(client: AsgiClient, store: SqlStore) -> None:
    signed = AWSRequest(
        method="POST",
        url="http://testserver/",
        data={
            "Action": "CreateRole",
            "Version": "2010-05-08",
            "RoleName": "deployer",
            "AssumeRolePolicyDocument": TRUST,
        },
    )
    SigV4Auth(Credentials(*ROOT), "iam", "us-east-1").add_auth(signed)
    created = client.post("/", content=signed.body, headers=dict(signed.headers.items()))
    assert created.status_code == 200, created.text

    answer = send(client, "POST", {"scope": "role", "role_name": "deployer"})
    assert answer.status_code == 200, answer.text
    revocation = answer.json()["revocation"]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/deployer"
    assert (revocation["scope"], revocation["value"], revocation["change"]) == ("role", role_arn, 1)
    not_before = datetime.fromisoformat(revocation["not_before"])
    revocations = client.app.state.revocations  # type: ignore[attr-defined]
    assert revocations.is_revoked(role_arn, None, None, None, not_before - timedelta(microseconds=1))
    assert not revocations.is_revoked(role_arn, None, None, None, not_before)
    with store.transaction() as tx:
        role = tx.iam.get_role("deployer")
        assert role is not None
        assert tx.iam.get_inline("role", role.id, "AWSRevokeOlderSessions") is not None

    listed = send(client, "GET")
    assert listed.status_code == 200
    assert listed.json() == {"revocations": [revocation], "change": 1}


def test_non_root_is_refused(client: AsgiClient, store: SqlStore) -> None:
    answer = send(client, "POST", {"scope": "session", "session_id": "s-1"}, key=USER)
    assert answer.status_code == 403
    error = answer.json()["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"].startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/ops is not authorized to perform: broker:RevokeSessions"
    )
    assert send(client, "GET", key=USER).status_code == 403
    assert count_rows(store, "revocations") == 0


def test_unknown_role_is_no_such_entity(client: AsgiClient, store: SqlStore) -> None:
    answer = send(client, "POST", {"scope": "role", "role_name": "ghost"})
    assert answer.status_code == 404
    assert answer.json()["Error"] == {"Code": "NoSuchEntity", "Message": "The role with name ghost cannot be found."}
    assert count_rows(store, "revocations") == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scope": "everything"}, "scope must be one of role, session, subject, provider."),
        (
            {"scope": "subject", "provider": "accounts.google.com"},
            "subject is required and must be a non-empty string.",
        ),
        ({"scope": "session", "session_id": 7}, "session_id is required and must be a non-empty string."),
    ],
)
def test_bad_bodies_are_validation_errors(client: AsgiClient, body: dict[str, Any], message: str) -> None:
    answer = send(client, "POST", body)
    assert answer.status_code == 400
    assert answer.json()["Error"] == {"Code": "ValidationError", "Message": message}


def test_unsigned_and_wrongly_scoped_requests_are_refused(client: AsgiClient, store: SqlStore) -> None:
    unsigned = client.post("/admin/revocations", json={"scope": "session", "session_id": "s"})
    assert unsigned.status_code == 403
    assert unsigned.json()["Error"]["Code"] == "MissingAuthenticationToken"
    wrong = send(client, "POST", {"scope": "session", "session_id": "s"}, service="iam")
    assert wrong.status_code in (400, 403)
    assert wrong.json()["Error"]["Code"] in ("SignatureDoesNotMatch", "IncompleteSignature", "InvalidClientTokenId")
    assert count_rows(store, "revocations") == 0


def test_session_subject_provider_scopes(client: AsgiClient) -> None:
    for body in (
        {"scope": "session", "session_id": "s-1"},
        {"scope": "subject", "provider": "accounts.google.com", "subject": "1234"},
        {"scope": "provider", "provider": "cognito-identity.amazonaws.com"},
    ):
        assert send(client, "POST", body).status_code == 200
    values = [r["value"] for r in send(client, "GET").json()["revocations"]]
    assert values == ["s-1", "accounts.google.com 1234", "cognito-identity.amazonaws.com"]
