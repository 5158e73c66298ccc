"""POST /oauth2/token (RFC 8693) and the well-known documents, in process over a real SQLite store.

The subject-token handler here is a stand-in (the OIDC one is exercised end to end in
tests/e2e/test_token_exchange_e2e.py): these tests pin the protocol layer — RFC 6749 §3.2/§5.1/§5.2 and
RFC 8693 §2.1/§2.2 — and that a refused request never reaches the handler and mints nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from broker.api.app import build_broker
from broker.api.oauth import MAX_BODY, install_oauth
from broker.api.wellknown import install_wellknown
from broker.clock import FixedClock
from broker.config import Settings
from broker.credentials.mint import SessionSpec, mint
from broker.errors import AccessDenied, ExpiredTokenException, IDPCommunicationError, InvalidIdentityToken
from broker.service.env import OpEnv
from broker.service.token_exchange import (
    ACCESS_TOKEN,
    AWS_CREDENTIALS,
    GRANT_TYPE,
    ID_TOKEN,
    ExchangeRequest,
    SubjectSession,
    SubjectTokenType,
    default_session_name,
)
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base
from broker.store.sqlalchemy.store import SqlStore

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PUBLIC = "https://broker.example:8443"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example"


class Recorder:
    """The stand-in handler: records what reached it; behaviour chosen by the token text."""

    def __init__(self, codec: Any) -> None:
        self.codec = codec
        self.calls: list[ExchangeRequest] = []

    def __call__(self, env: OpEnv, request: ExchangeRequest) -> SubjectSession:
        self.calls.append(request)
        token = request.subject_token
        if token == "expired":
            raise ExpiredTokenException("Token is expired")
        if token == "forged":
            raise InvalidIdentityToken("Incorrect token signature", detail="kid k1 signature mismatch")
        if token == "denied":
            raise AccessDenied('Not authorized to perform sts:AssumeRoleWithWebIdentity "quoted"')
        if token == "idp-down":
            raise IDPCommunicationError("Couldn't retrieve verification key from your identity provider")
        if token == "crash":
            raise RuntimeError("boom")
        name = request.session_name or default_session_name(token)
        spec = SessionSpec(
            kind="assumed-role", account=ACCOUNT, principal_arn=request.role_arn, principal_id="AROAEXAMPLE000000001",
            principal_name="ci", duration_seconds=request.duration_seconds or 3600, session_name=name,
            tags=(("team", "blue"),), federated_provider=PROVIDER, federated_subject="repo:acme/app",
        )
        minted = mint(spec, codec=self.codec, now=env.call.now, entropy=env.entropy)
        return SubjectSession(
            minted=minted, role_arn=request.role_arn, assumed_role_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/{name}",
            assumed_role_id=f"AROAEXAMPLE000000001:{name}", subject="repo:acme/app", provider_arn=PROVIDER,
            audience="sts.amazonaws.com", session_name=name, tags=(("team", "blue"),),
        )


class Client:
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kw)

        return asyncio.run(go())

    def token(self, **form: Any) -> httpx.Response:
        return self.request(
            "POST", "/oauth2/token", content=urlencode(form, doseq=True),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Client, Recorder, Any]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    Base.metadata.create_all(engine)
    store = SqlStore(engine)
    settings = Settings(
        home=tmp_path, account_id=ACCOUNT, public_url=PUBLIC + "/",
        master_key=SecretStr(base64.b64encode(bytes(32)).decode()),
    )
    broker = build_broker(settings, clock=FixedClock(NOW), store=store)
    assert broker.keyring is not None
    recorder = Recorder(broker.keyring.codec)
    app = FastAPI()
    app.state.broker = broker
    install_oauth(app, broker, types={ID_TOKEN: SubjectTokenType(ID_TOKEN, recorder, 100)})
    install_wellknown(app)
    yield Client(app), recorder, broker
    engine.dispose()


def good(**extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "grant_type": GRANT_TYPE, "subject_token": "good-token", "subject_token_type": ID_TOKEN, "audience": ROLE,
    }
    form.update(extra)
    return form


def events(broker: Any) -> list[dict[str, Any]]:
    with broker.store.transaction() as tx:
        return list(tx.audit.list(event_name="TokenExchange"))


# --- success ---------------------------------------------------------------------------------------


def test_aws_credentials_by_default(setup: tuple[Client, Recorder, Any]) -> None:
    client, recorder, broker = setup
    response = client.token(**good())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["issued_token_type"] == AWS_CREDENTIALS
    assert body["token_type"] == "N_A"
    assert body["expires_in"] == 3600
    creds = body["credentials"]
    assert creds["Version"] == 1
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert body["access_token"] == creds["SessionToken"]
    assert creds["Expiration"] == "2026-03-01T13:00:00Z"
    assert body["assumed_role_user"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/token-exchange-")
    [request] = recorder.calls
    assert request.role_arn == ROLE and request.requested_token_type == AWS_CREDENTIALS
    [event] = events(broker)
    text = json.dumps(event)
    assert "good-token" not in text and creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text
    assert event["requestParameters"]["subject_token"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert event["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert "errorCode" not in event


def test_access_token_is_a_jwt_verifiable_with_the_published_jwks(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, _ = setup
    response = client.token(**good(requested_token_type=ACCESS_TOKEN, client_id="ci-client", role_session_name="s1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and "credentials" not in body
    config = client.request("GET", "/.well-known/openid-configuration").json()
    assert config["issuer"] == PUBLIC
    assert config["jwks_uri"] == PUBLIC + "/.well-known/jwks.json"
    assert config["token_endpoint"] == PUBLIC + "/oauth2/token"
    assert config["grant_types_supported"] == [GRANT_TYPE]
    assert config["subject_token_types_supported"] == [ID_TOKEN]
    keys = client.request("GET", "/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] in config["id_token_signing_alg_values_supported"]
    key = jwt.PyJWKSet.from_dict(keys)[header["kid"]]
    claims = jwt.decode(
        body["access_token"], key.key, algorithms=[header["alg"]], audience=ROLE, issuer=PUBLIC,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["sub"] == "repo:acme/app"
    assert claims["client_id"] == "ci-client"
    assert claims["role"] == ROLE
    assert claims["assumed_role"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/s1"
    assert claims["session_name"] == "s1"
    assert claims["provider"] == PROVIDER
    assert claims["role_id"] == "AROAEXAMPLE000000001"
    assert claims["tags"] == {"team": "blue"}
    assert claims["exp"] - claims["iat"] == 3600 and claims["iat"] == int(NOW.timestamp())
    assert len(claims["jti"]) == 32


def test_resource_becomes_the_access_token_audience(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, _ = setup
    body = client.token(**good(requested_token_type=ACCESS_TOKEN, resource="https://api.example/")).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://api.example/"
    assert claims["client_id"] == "sts.amazonaws.com"  # the subject token's audience when no client_id


def test_scope_may_name_the_role(setup: tuple[Client, Recorder, Any]) -> None:
    client, recorder, _ = setup
    form = good(scope=f"openid {ROLE}")
    del form["audience"]
    assert client.token(**form).status_code == 200
    assert recorder.calls[0].role_arn == ROLE


def test_duration_and_session_name_pass_through(setup: tuple[Client, Recorder, Any]) -> None:
    client, recorder, _ = setup
    body = client.token(**good(duration_seconds="900", role_session_name="alice")).json()
    assert body["expires_in"] == 900
    assert recorder.calls[0].duration_seconds == 900 and recorder.calls[0].session_name == "alice"


# --- protocol errors: never reach the handler ----------------------------------------------------


@pytest.mark.parametrize(
    ("form", "code", "description"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type",
         f"grant_type must be {GRANT_TYPE}"),
        ({"grant_type": None}, "invalid_request", "grant_type is required"),
        ({"subject_token": None}, "invalid_request", "subject_token and subject_token_type are required"),
        ({"subject_token": ""}, "invalid_request", "subject_token and subject_token_type are required"),
        ({"subject_token_type": None}, "invalid_request", "subject_token and subject_token_type are required"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request",
         "subject_token_type urn:ietf:params:oauth:token-type:refresh_token is not supported"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request",
         "requested_token_type urn:ietf:params:oauth:token-type:id_token is not supported"),
        ({"audience": None}, "invalid_request", "audience (or scope) must name the role ARN to assume"),
        ({"audience": None, "scope": "openid profile"}, "invalid_scope",
         "audience (or scope) must name the role ARN to assume"),
        ({"audience": [ROLE, ROLE + "2"]}, "invalid_target", "exactly one role ARN may be requested"),
        ({"scope": ROLE + "2"}, "invalid_target", "audience and scope name different roles"),
        ({"audience": "not-an-arn"}, "invalid_target", "audience must name a role ARN of this account"),
        ({"audience": "arn:aws:iam::999999999999:role/ci"}, "invalid_target",
         "audience must name a role ARN of this account"),
        ({"audience": f"arn:aws:iam::{ACCOUNT}:user/ci"}, "invalid_target",
         "audience must name a role ARN of this account"),
        ({"resource": ["https://a/", "https://b/"]}, "invalid_target", "at most one resource may be requested"),
        ({"subject_token": "x" * 101}, "invalid_request", "subject_token must be at most 100 characters"),
        ({"actor_token": "abc"}, "invalid_request", "actor_token (delegation) is not supported"),
        ({"duration_seconds": "1h"}, "invalid_request", "duration_seconds must be a whole number of seconds"),
        ({"grant_type": [GRANT_TYPE, GRANT_TYPE]}, "invalid_request",
         "parameter grant_type must not be included more than once"),
    ],
)
def test_bad_requests(
    setup: tuple[Client, Recorder, Any], form: dict[str, Any], code: str, description: str
) -> None:
    client, recorder, broker = setup
    merged = good()
    for key, value in form.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    response = client.token(**merged)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert response.json()["error_description"] == description
    assert response.headers["cache-control"] == "no-store"
    assert recorder.calls == []
    [event] = events(broker)
    assert event["errorCode"] in {"ValidationError", "InvalidParameterValue"}


def test_form_content_type_required(setup: tuple[Client, Recorder, Any]) -> None:
    client, recorder, _ = setup
    response = client.request("POST", "/oauth2/token", json=good())
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request", "error_description": "the request must be application/x-www-form-urlencoded",
    }
    assert recorder.calls == []


def test_oversized_body_is_a_400_not_a_413(setup: tuple[Client, Recorder, Any]) -> None:
    client, recorder, _ = setup
    response = client.token(**good(padding="x" * MAX_BODY))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"] == f"Request body must be at most {MAX_BODY} bytes"
    assert recorder.calls == []


def test_invalid_utf8_body(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, _ = setup
    response = client.request(
        "POST", "/oauth2/token", content=b"grant_type=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


# --- refusals from the subject-token handler -------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "code", "aws_code", "description"),
    [
        ("expired", "invalid_request", "ExpiredTokenException", "Token is expired"),
        ("forged", "invalid_request", "InvalidIdentityToken", "Incorrect token signature"),
        ("idp-down", "invalid_request", "IDPCommunicationError",
         "Couldn't retrieve verification key from your identity provider"),
        ("denied", "invalid_target", "AccessDenied",
         "Not authorized to perform sts:AssumeRoleWithWebIdentity ?quoted?"),
    ],
)
def test_handler_refusals(
    setup: tuple[Client, Recorder, Any], token: str, code: str, aws_code: str, description: str
) -> None:
    client, _, broker = setup
    response = client.token(**good(subject_token=token))
    assert response.status_code == 400
    assert response.json() == {"error": code, "error_description": description, "aws_error_code": aws_code}
    [event] = events(broker)
    assert event["errorCode"] == aws_code
    assert event["responseElements"] is None


def test_forged_detail_stays_in_the_audit_log(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, broker = setup
    response = client.token(**good(subject_token="forged"))
    assert "kid k1" not in response.text
    [event] = events(broker)
    assert event["additionalEventData"]["errorDetail"] == "kid k1 signature mismatch"


def test_internal_failure_is_an_honest_500(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, broker = setup
    response = client.token(**good(subject_token="crash"))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "error_description": "internal error; retry later"}
    assert "boom" not in response.text
    [event] = events(broker)
    assert event["errorCode"] == "InternalFailure"


def test_default_session_name_is_stable_and_hides_the_token() -> None:
    name = default_session_name("eyJ.secret.token")
    assert name == default_session_name("eyJ.secret.token")
    assert name.startswith("token-exchange-") and len(name) == len("token-exchange-") + 16
    assert "secret" not in name


def test_jwks_has_only_public_signing_keys(setup: tuple[Client, Recorder, Any]) -> None:
    client, _, broker = setup
    response = client.request("GET", "/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=60"
    keys = response.json()["keys"]
    signing = [k.key_id for k in broker.keyring.keyring.of("jwt-signing")]
    assert [k["kid"] for k in keys] == list(reversed(signing))
    for key in keys:
        assert "d" not in key and key["use"] == "sig"


def test_subject_type_table_takes_extra_rows() -> None:
    from broker.service.token_exchange import SAML2, default_subject_types

    def handler(env: OpEnv, request: ExchangeRequest) -> SubjectSession:
        raise AssertionError("not called")

    row = SubjectTokenType(SAML2, handler, 100_000)
    assert default_subject_types(None) == {}
    assert default_subject_types(None, [row]) == {SAML2: row}


def test_access_token_is_accepted_by_the_pdp_bearer_verifier(setup: tuple[Client, Recorder, Any]) -> None:
    from broker.arn import ArnFactory
    from broker.pdp.bearer import BearerVerifier

    client, _, broker = setup
    token = client.token(**good(requested_token_type=ACCESS_TOKEN, role_session_name="s2")).json()["access_token"]
    verifier = BearerVerifier(lambda: broker.keyring.keyring, issuer=PUBLIC, audiences=[ROLE],
                              arns=ArnFactory(account=ACCOUNT))
    principal = verifier.verify(token, NOW).principal
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/s2"
    assert principal.user_id == "AROAEXAMPLE000000001:s2"
    assert principal.identity_arn == ROLE and principal.tags == {"team": "blue"}
