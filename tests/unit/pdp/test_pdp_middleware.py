"""The ASGI middleware in front of a small FastAPI app, driven through Starlette's TestClient."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import FastAPI, Request

from broker.api.middleware import PdpMiddleware, Target
from broker.credentials.sigv4 import SignedRequest, sign
from tests.unit.pdp.conftest import ACCOUNT, AUDIENCE, ISSUER, ROLE_ARN, AsgiClient, World


def _route(method: str, path: str) -> Target | None:
    if path.startswith("/things/"):
        name = path.rsplit("/", 1)[-1]
        action = "example:GetThing" if method == "GET" else "example:PutThing"
        return Target(action, f"arn:aws:example:::thing/{name}", {"example:color": "blue"} if name == "1" else {})
    return None


def _app(world: World) -> AsgiClient:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    @app.api_route("/things/{name}", methods=["GET", "PUT"])
    async def thing(name: str, request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"name": name, "caller": request.state.principal.arn, "body": body.decode()}

    app.add_middleware(PdpMiddleware, pdp=world.pdp, resolve=_route, service="example", audience=AUDIENCE)
    return AsgiClient(app)


def _headers(world: World, creds: dict[str, Any], method: str, path: str, body: bytes = b"") -> dict[str, str]:
    base = SignedRequest.build(method, path, "", [("Host", "svc.example")], body)
    signed = sign(base, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "example", world.clock.now(),
                  session_token=creds.get("SessionToken"))
    return dict(signed.headers)


def test_allowed_request_reaches_the_app_with_the_principal(world: World) -> None:
    client, creds = _app(world), world.assume()
    response = client.get("/things/7", headers=_headers(world, creds, "GET", "/things/7"))
    assert response.status_code == 200
    assert response.json() == {"name": "7", "caller": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1", "body": ""}


def test_body_is_checked_and_replayed(world: World) -> None:
    client, creds = _app(world), world.assume()
    body = b'{"colour":"blue"}'
    response = client.put("/things/1", content=body, headers=_headers(world, creds, "PUT", "/things/1", body))
    assert response.status_code == 200
    assert response.json()["body"] == body.decode()
    tampered = client.put("/things/1", content=b"{}", headers=_headers(world, creds, "PUT", "/things/1", body))
    assert tampered.status_code == 403
    assert tampered.json()["Error"]["Code"] == "SignatureDoesNotMatch"


def test_denied_request_gets_an_aws_style_403(world: World) -> None:
    client, creds = _app(world), world.assume()
    response = client.get("/things/secret", headers=_headers(world, creds, "GET", "/things/secret"))
    assert response.status_code == 403
    error = response.json()["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/app/s1 is not authorized to perform: example:GetThing on "
        "resource: arn:aws:example:::thing/secret with an explicit deny in an identity-based policy"
    )
    assert response.headers["x-amzn-requestid"] == response.json()["RequestId"]
    put = client.put("/things/2", content=b"", headers=_headers(world, creds, "PUT", "/things/2"))
    assert put.status_code == 403
    assert "because no identity-based policy allows the example:PutThing action" in put.json()["Error"]["Message"]


def test_unauthenticated_and_public_paths(world: World) -> None:
    client = _app(world)
    assert client.get("/health").json() == {"ok": "yes"}
    response = client.get("/things/7")
    assert response.status_code == 403
    assert response.json()["Error"]["Code"] == "MissingAuthenticationToken"


def test_bearer_token(world: World) -> None:
    client = _app(world)
    key = world.keyring.keyring.current("jwt-signing", world.clock.now())
    now = int(world.clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": now, "exp": now + 600, "role": ROLE_ARN,
              "session_name": "carol"}
    token = jwt.encode(claims, key.private_key(), algorithm=key.algorithm, headers={"kid": key.key_id})
    response = client.get("/things/3", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/carol"
    wrong = jwt.encode(dict(claims, aud="https://elsewhere"), key.private_key(), algorithm=key.algorithm,
                       headers={"kid": key.key_id})
    refused = client.get("/things/3", headers={"Authorization": f"Bearer {wrong}"})
    assert refused.status_code == 403
    assert refused.json()["Error"]["Code"] == "InvalidClientTokenId"


def test_oversized_body_refused(world: World) -> None:
    app = FastAPI()
    app.add_middleware(PdpMiddleware, pdp=world.pdp, resolve=_route, service="example", max_body_bytes=10)
    response = AsgiClient(app).put("/things/1", content=b"x" * 11)
    assert response.status_code == 413
    assert response.json()["Error"]["Code"] == "RequestEntityTooLarge"
