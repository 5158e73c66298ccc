"""Session-token payload versions: version 2 carries the web-identity condition keys (``fk``); version 1 tokens
(sealed before ``v`` existed) still open; unknown versions and malformed ``fk`` are refused."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.credentials.keyring import Keyring, generate_key
from broker.credentials.session_token import INVALID_TOKEN, SessionClaims, SessionTokenCodec, pack_claims
from broker.errors import InvalidClientTokenId

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PREFIX = "idp.example:8443/realms/x"
KEYS = ((f"{PREFIX}:sub", "repo:octo-org/app:ref:refs/heads/main"), (f"{PREFIX}:aud", "sts.amazonaws.com"),
        (f"{PREFIX}:amr", ("pwd", "mfa")))


class Fixed:
    def token_bytes(self, n: int) -> bytes:
        return b"\x07" * n


def _claims(**over: Any) -> SessionClaims:
    base = SessionClaims(
        access_key_id="ASIAAAAAAAAAAAAAAAAA", secret_access_key="s" * 40, kind="assumed-role", account="123456789012",
        principal_arn="arn:aws:iam::123456789012:role/app", principal_id="AROAAAAAAAAAAAAAAAAAA",
        principal_name="app", issued_at=T0, expires_at=T0 + timedelta(hours=1), session_id="00" * 16,
        session_name="sess", federated_provider=f"arn:aws:iam::123456789012:oidc-provider/{PREFIX}",
        federated_subject="repo:octo-org/app:ref:refs/heads/main",
    )
    return replace(base, **over)


@pytest.fixture
def ring() -> Keyring:
    return Keyring([generate_key("session-token", now=T0 - timedelta(days=1), entropy=Fixed())])


def _seal_body(ring: Keyring, body: dict[str, Any]) -> str:
    """Seal an arbitrary JSON payload exactly as the codec does (header | nonce | AES-GCM(zlib(JSON)))."""
    key = ring.keys[0]
    header = bytes([1, len(key.key_id)]) + key.key_id.encode()
    nonce = b"\x01" * 12
    sealed = AESGCM(key.secret).encrypt(nonce, zlib.compress(json.dumps(body).encode()), header)
    return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode()


def _body(claims: SessionClaims) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(zlib.decompress(pack_claims(claims)))
    return body


def test_version_2_round_trips_the_carried_keys(ring: Keyring) -> None:
    claims = _claims(federated_keys=KEYS)
    assert _body(claims)["v"] == 2
    assert _body(claims)["fk"] == {f"{PREFIX}:sub": "repo:octo-org/app:ref:refs/heads/main",
                                   f"{PREFIX}:aud": "sts.amazonaws.com", f"{PREFIX}:amr": ["pwd", "mfa"]}
    token = SessionTokenCodec(ring).seal(claims, now=T0, entropy=Fixed())
    opened = SessionTokenCodec(ring).open_at(token, T0)
    assert opened == claims
    assert opened.federated_keys == KEYS


def test_sessions_without_keys_write_no_fk(ring: Keyring) -> None:
    body = _body(_claims())
    assert body["v"] == 2 and "fk" not in body


def test_version_1_tokens_still_open(ring: Keyring) -> None:
    body = _body(_claims())
    del body["v"]  # what every token sealed before payload versions looks like
    opened = SessionTokenCodec(ring).open_at(_seal_body(ring, body), T0)
    assert opened == _claims()
    assert opened.federated_keys == ()
    body["v"] = 1
    assert SessionTokenCodec(ring).open_at(_seal_body(ring, body), T0) == _claims()


def _refused(ring: Keyring, body: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidClientTokenId) as info:
        SessionTokenCodec(ring).open_at(_seal_body(ring, body), T0)
    assert info.value.message == INVALID_TOKEN
    assert info.value.detail == f"session token refused: payload unreadable: {reason}"


@pytest.mark.parametrize(("version", "shown"), [(3, "3"), (0, "0"), ("2", "'2'"), (True, "True"), (2.0, "2.0")])
def test_unknown_payload_versions_are_refused(ring: Keyring, version: Any, shown: str) -> None:
    body = _body(_claims())
    body["v"] = version
    _refused(ring, body, f"unknown payload version {shown}")


def test_carried_keys_in_a_version_1_payload_are_refused(ring: Keyring) -> None:
    body = _body(_claims(federated_keys=KEYS))
    body["v"] = 1
    _refused(ring, body, "claim fk in a version 1 payload")
    del body["v"]
    _refused(ring, body, "claim fk in a version 1 payload")


@pytest.mark.parametrize(("fk", "reason"), [
    (["x"], "claim fk is not an object"),
    ({f"{PREFIX}:sub": 1}, f"claim fk member '{PREFIX}:sub' is not a string or a list of strings"),
    ({f"{PREFIX}:amr": ["pwd", 2]}, f"claim fk member '{PREFIX}:amr' is not a string or a list of strings"),
    ({f"{PREFIX}:x": {"a": "b"}}, f"claim fk member '{PREFIX}:x' is not a string or a list of strings"),
])
def test_malformed_carried_keys_are_refused(ring: Keyring, fk: Any, reason: str) -> None:
    body = _body(_claims())
    body["fk"] = fk
    _refused(ring, body, reason)
