"""Bearer access tokens signed by the keyring's JWT key: accepted exactly, refused on every RFC 8725 hazard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from broker.errors import ExpiredToken, InvalidClientTokenId
from tests.unit.pdp.conftest import ACCOUNT, AUDIENCE, ISSUER, ROLE_ARN, World

THING = "arn:aws:example:::thing/1"


def _claims(world: World, **extra: Any) -> dict[str, Any]:
    now = int(world.clock.now().timestamp())
    base: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "iat": now, "exp": now + 900, "jti": "tok-1",
        "role": ROLE_ARN, "role_id": "AROAEXAMPLEROLEID0001", "session_name": "alice",
        "tags": {"team": "blue"}, "provider": f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def _token(world: World, claims: dict[str, Any], **headers: Any) -> str:
    key = world.keyring.keyring.current("jwt-signing", world.clock.now())
    hdr = {"kid": key.key_id, **headers}
    return jwt.encode(claims, key.private_key(), algorithm=key.algorithm, headers=hdr)


def _refused(world: World, token: str, reason: str, error: type[Exception] = InvalidClientTokenId) -> None:
    with pytest.raises(error) as exc:
        world.bearer.verify(token, world.clock.now())
    assert reason in str(getattr(exc.value, "detail", exc.value))


def test_valid_token_names_the_role_session(world: World) -> None:
    token = _token(world, _claims(world))
    principal = world.bearer.verify(token, world.clock.now()).principal
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/alice"
    assert principal.user_id == "AROAEXAMPLEROLEID0001:alice"
    assert principal.identity_arn == ROLE_ARN
    assert dict(principal.tags) == {"team": "blue"}
    assert principal.federated_subject == "user-42"
    assert principal.session_id == "tok-1"
    result = world.pdp.authorize_bearer(token, "example:GetThing", THING)
    assert result.decision == "Allow"
    assert [m.sid for m in result.matched_statements] == ["ReadThings"]


def test_audience_and_issuer_match_exactly(world: World) -> None:
    _refused(world, _token(world, _claims(world, aud="https://svc.example/")), "InvalidAudienceError")
    _refused(world, _token(world, _claims(world, iss=ISSUER + "/")), "InvalidIssuerError")
    listed = _token(world, _claims(world, aud=["https://other", AUDIENCE]))
    assert world.bearer.verify(listed, world.clock.now()).principal.name == "alice"
    other = world.bearer.verify(_token(world, _claims(world, aud="https://other")), world.clock.now(),
                                audiences=["https://other"])
    assert other.principal.name == "alice"


def test_time_claims_use_the_injected_clock(world: World) -> None:
    now = int(world.clock.now().timestamp())
    _refused(world, _token(world, _claims(world, exp=now - 61)), "expired", ExpiredToken)
    assert world.bearer.verify(_token(world, _claims(world, exp=now - 59)), world.clock.now())
    _refused(world, _token(world, _claims(world, nbf=now + 61)), "not valid before")
    _refused(world, _token(world, _claims(world, iat=now + 61)), "issued in the future")
    _refused(world, _token(world, _claims(world, exp=None)), "exp")


def test_algorithm_confusion_and_none_refused(world: World) -> None:
    claims = _claims(world)
    key = world.keyring.keyring.current("jwt-signing", world.clock.now())
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": key.key_id})
    _refused(world, unsigned, "alg 'none'")
    public_pem = key.private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": key.key_id}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    forged = (header + b"." + payload + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    _refused(world, forged, "alg 'HS256'")


def test_dangerous_headers_and_unknown_keys_refused(world: World) -> None:
    claims = _claims(world)
    _refused(world, _token(world, claims, crit=["exp"]), "crit")
    _refused(world, _token(world, claims, jku="https://evil.example/jwks"), "jku")
    _refused(world, _token(world, claims, kid="js-unknown"), "unknown signing key")
    session_kid = world.keyring.keyring.current("session-token", world.clock.now()).key_id
    _refused(world, _token(world, claims, kid=session_kid), "unknown signing key")
    _refused(world, "x" * 20_000, "oversized")
    _refused(world, "not-a-jwt", "unreadable header")
    token = _token(world, claims)
    head, _body, sig = token.split(".")
    tampered_body = base64.urlsafe_b64encode(
        json.dumps(dict(claims, role=f"arn:aws:iam::{ACCOUNT}:role/admin")).encode()
    ).rstrip(b"=").decode()
    _refused(world, f"{head}.{tampered_body}.{sig}", "InvalidSignatureError")


def test_role_claim_is_required_and_local(world: World) -> None:
    _refused(world, _token(world, _claims(world, role=None)), "claim role is required")
    _refused(world, _token(world, _claims(world, role="arn:aws:iam::999999999999:role/app")), "another account")
    _refused(world, _token(world, _claims(world, role=f"arn:aws:iam::{ACCOUNT}:user/bob")), "not a role ARN")
    _refused(world, _token(world, _claims(world, tags={"a": 1})), "claim tags")


def test_failures_are_denials_through_the_pdp(world: World) -> None:
    now = int(world.clock.now().timestamp())
    result = world.pdp.authorize_bearer(_token(world, _claims(world, exp=now - 3600)), "example:GetThing", THING)
    assert result.decision == "ImplicitDeny"
    assert result.error is not None and result.error.code == "ExpiredToken"
    assert result.to_json()["principal"] is None


class _Revoked:
    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    def is_revoked(self, role_arn: str | None, session_id: str | None, provider: str | None,
                   subject: str | None, issued_at: datetime) -> bool:
        self.asked.append((role_arn, session_id, provider, subject))
        return subject == "user-42"


def test_revoked_subject_refused(world: World) -> None:
    revoked = _Revoked()
    world.bearer.revocations = revoked
    _refused(world, _token(world, _claims(world)), "was revoked")
    assert revoked.asked == [(ROLE_ARN, "tok-1", f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example", "user-42")]


def test_tokens_from_the_token_endpoint_verify(world: World) -> None:
    """Contract with broker.service.token_exchange.AccessTokenIssuer: what it signs, the PDP accepts."""
    from broker.credentials.mint import Minted
    from broker.service.token_exchange import AccessTokenIssuer, SubjectSession

    creds = world.assume()
    claims = world.keyring.codec.open_at(creds["SessionToken"], world.clock.now())
    minted = Minted(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"], claims.expires_at, None,
                    claims)
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example"
    session = SubjectSession(minted, ROLE_ARN, f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1",
                             f"{claims.principal_id}:s1", "user-42", provider, AUDIENCE, "s1",
                             tags=(("team", "blue"),))
    token, _ = AccessTokenIssuer(world.keyring, ISSUER).issue(
        session, audience=AUDIENCE, client_id="cli", now=world.clock.now(), entropy=world.entropy)
    principal = world.bearer.verify(token, world.clock.now()).principal
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
    assert principal.user_id == f"{claims.principal_id}:s1"
    assert principal.session_id == claims.session_id
    assert (principal.federated_provider, principal.federated_subject) == (provider, "user-42")
    assert dict(principal.tags) == {"team": "blue"}
    assert world.pdp.authorize_bearer(token, "example:GetThing", THING).decision == "Allow"
