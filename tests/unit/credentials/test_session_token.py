"""Sealed session tokens: round trip, every expiry edge, and each way a token can be refused."""

from __future__ import annotations

import base64
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from broker.credentials.keyring import Keyring, generate_key
from broker.credentials.session_token import (
    EXPIRED_TOKEN,
    INVALID_TOKEN,
    SessionClaims,
    SessionTokenCodec,
)
from broker.errors import ExpiredToken, InvalidClientTokenId

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class Seeded:
    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


def _claims(**over: object) -> SessionClaims:
    base = SessionClaims(
        access_key_id="ASIAAAAAAAAAAAAAAAAA",
        secret_access_key="s" * 40,
        kind="assumed-role",
        account="123456789012",
        principal_arn="arn:aws:iam::123456789012:role/app",
        principal_id="AROAAAAAAAAAAAAAAAAAA",
        principal_name="app",
        issued_at=T0,
        expires_at=T0 + timedelta(seconds=3600),
        session_id="00" * 16,
        session_name="sess",
        policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        policy_arns=("arn:aws:iam::123456789012:policy/p",),
        tags=(("Team", "blue"), ("Env", "prod")),
        transitive_tag_keys=("Team",),
        source_identity="alice",
        mfa_authenticated_at=T0 - timedelta(seconds=30),
        chain_depth=1,
        federated_provider="arn:aws:iam::123456789012:oidc-provider/idp.example",
        federated_subject="sub-1",
    )
    return replace(base, **over)  # type: ignore[arg-type]


@pytest.fixture
def ring() -> Keyring:
    return Keyring([generate_key("session-token", now=T0 - timedelta(days=1), entropy=Seeded(1))])


def test_round_trip_keeps_every_claim(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    claims = _claims()
    token = codec.seal(claims, now=T0, entropy=Seeded())
    assert "=" not in token and "+" not in token and "/" not in token
    opened = SessionTokenCodec(ring).open_at(token, T0)
    assert opened == claims
    assert opened.transitive_tags == (("Team", "blue"),)
    assert "s" * 40 not in repr(opened)


def test_minimal_claims_round_trip(ring: Keyring) -> None:
    claims = _claims(policy=None, policy_arns=(), tags=(), transitive_tag_keys=(), source_identity=None,
                     mfa_authenticated_at=None, chain_depth=0, federated_provider=None, federated_subject=None,
                     session_name=None)
    token = SessionTokenCodec(ring).seal(claims, now=T0, entropy=Seeded())
    assert SessionTokenCodec(ring).open_at(token, T0) == claims


@pytest.mark.parametrize("offset,expired", [(-3601, False), (0, False), (3599, False), (3600, True), (3601, True)])
def test_expiry_edges(ring: Keyring, offset: int, expired: bool) -> None:
    codec = SessionTokenCodec(ring)
    token = codec.seal(_claims(), now=T0, entropy=Seeded())
    at = T0 + timedelta(seconds=offset)
    if expired:
        with pytest.raises(ExpiredToken) as exc:
            codec.open_at(token, at)
        assert exc.value.code == "ExpiredToken"
        assert exc.value.message == EXPIRED_TOKEN
    else:
        assert codec.open_at(token, at).session_id == "00" * 16


def test_expiry_edge_one_microsecond_before(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    token = codec.seal(_claims(), now=T0, entropy=Seeded())
    assert codec.open_at(token, T0 + timedelta(seconds=3600) - timedelta(microseconds=1)).kind == "assumed-role"


def test_cached_token_still_expires(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    token = codec.seal(_claims(), now=T0, entropy=Seeded())
    codec.open_at(token, T0)
    with pytest.raises(ExpiredToken):
        codec.open_at(token, T0 + timedelta(hours=2))


def _refused(codec: SessionTokenCodec, token: str, reason: str) -> None:
    with pytest.raises(InvalidClientTokenId) as exc:
        codec.open_at(token, T0)
    assert exc.value.code == "InvalidClientTokenId"
    assert exc.value.message == INVALID_TOKEN
    assert reason in exc.value.detail


def test_tampered_token_refused(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    token = codec.seal(_claims(), now=T0, entropy=Seeded())
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-5] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    _refused(codec, tampered, "authentication failed")


def test_header_swap_refused(ring: Keyring) -> None:
    other = generate_key("session-token", now=T0, entropy=Seeded(9), key_id="st-other")
    both = ring.with_keys([other])
    codec = SessionTokenCodec(both)
    token = codec.seal(_claims(), now=T0, entropy=Seeded(), key=ring.keys[0])
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    kid = ring.keys[0].key_id.encode()
    swapped = bytes([1, len(b"st-other")]) + b"st-other" + raw[2 + len(kid):]
    _refused(codec, base64.urlsafe_b64encode(swapped).rstrip(b"=").decode(), "authentication failed under key st-other")


def test_truncated_token_refused(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    token = codec.seal(_claims(), now=T0, entropy=Seeded())
    _refused(codec, token[:20], "truncated")
    _refused(codec, token[:-8], "authentication failed")


def test_foreign_key_refused(ring: Keyring) -> None:
    foreign = Keyring([generate_key("session-token", now=T0, entropy=Seeded(99))])
    token = SessionTokenCodec(foreign).seal(_claims(), now=T0, entropy=Seeded())
    _refused(SessionTokenCodec(ring), token, "unknown key id")


def test_garbage_refused(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    _refused(codec, "", "empty")
    _refused(codec, "not base64!", "not base64url")
    _refused(codec, "A" * 9000, "oversized")
    _refused(codec, base64.urlsafe_b64encode(b"\x02\x01a" + b"\0" * 40).decode(), "unknown version")


def test_signing_key_cannot_open_tokens(ring: Keyring) -> None:
    signing = generate_key("jwt-signing", now=T0, entropy=Seeded(), key_id=ring.keys[0].key_id + "x")
    codec = SessionTokenCodec(ring.with_keys([signing]))
    token = SessionTokenCodec(ring).seal(_claims(), now=T0, entropy=Seeded())
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    kid = signing.key_id.encode()
    relabeled = bytes([1, len(kid)]) + kid + raw[2 + raw[1]:]
    _refused(codec, base64.urlsafe_b64encode(relabeled).rstrip(b"=").decode(), "unknown key id")


def test_rotation_old_key_still_opens(ring: Keyring) -> None:
    old = ring.keys[0]
    token = SessionTokenCodec(ring).seal(_claims(), now=T0, entropy=Seeded())
    new = generate_key("session-token", now=T0 + timedelta(seconds=1), entropy=Seeded(5))
    rotated = Keyring([replace(old, retired_at=T0 + timedelta(seconds=1)), new])
    codec = SessionTokenCodec(rotated)
    assert codec.keyring.current("session-token", T0 + timedelta(seconds=2)).key_id == new.key_id
    assert codec.open_at(token, T0 + timedelta(seconds=2)).principal_name == "app"
    assert codec.key_id_of(token) == old.key_id
