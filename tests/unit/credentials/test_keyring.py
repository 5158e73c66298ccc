"""Keyring: key generation per algorithm, current key selection at every edge, purge edge, JWKS, reprs."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from broker.credentials.keyring import MAX_TOKEN_LIFETIME, Keyring, generate_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Seeded:
    def __init__(self, seed: int = 3) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


def test_session_key_is_32_bytes_and_hidden() -> None:
    key = generate_key("session-token", now=T0, entropy=Seeded())
    assert key.algorithm == "A256GCM" and len(key.secret) == 32
    assert key.key_id.startswith("st-20260101000000-")
    assert key.secret.hex() not in repr(key) and "**********" in repr(key)


@pytest.mark.parametrize("alg,kty", [("ES256", "EC"), ("RS256", "RSA"), ("EdDSA", "OKP")])
def test_signing_keys_export_verifying_jwks(alg: str, kty: str) -> None:
    key = generate_key("jwt-signing", now=T0, entropy=Seeded(), algorithm=alg)
    jwks = Keyring([key]).jwks()
    assert [k["kty"] for k in jwks["keys"]] == [kty]
    assert jwks["keys"][0]["kid"] == key.key_id and jwks["keys"][0]["alg"] == alg
    token = jwt.encode({"sub": "x"}, key.private_key(), algorithm=alg, headers={"kid": key.key_id})
    public = jwt.PyJWK(jwks["keys"][0])
    assert jwt.decode(token, public.key, algorithms=[alg])["sub"] == "x"


def test_unknown_algorithm_refused() -> None:
    with pytest.raises(ValueError, match="unsupported JWT signing algorithm 'HS256'"):
        generate_key("jwt-signing", now=T0, entropy=Seeded(), algorithm="HS256")
    with pytest.raises(ValueError, match="session-token keys are A256GCM"):
        generate_key("session-token", now=T0, entropy=Seeded(), algorithm="A128GCM")


def test_current_is_newest_active_at_every_edge() -> None:
    old = generate_key("session-token", now=T0, entropy=Seeded(1), key_id="st-old")
    new = replace(generate_key("session-token", now=T0 + timedelta(hours=1), entropy=Seeded(2), key_id="st-new"))
    ring = Keyring([replace(old, retired_at=T0 + timedelta(hours=1)), new])
    assert ring.current("session-token", T0 + timedelta(hours=1) - timedelta(microseconds=1)).key_id == "st-old"
    assert ring.current("session-token", T0 + timedelta(hours=1)).key_id == "st-new"
    with pytest.raises(LookupError, match="no active session-token key"):
        ring.current("session-token", T0 - timedelta(seconds=1))
    with pytest.raises(LookupError, match="no active jwt-signing key"):
        ring.current("jwt-signing", T0)
    assert ring.by_kid("st-old") is not None and ring.by_kid("nope") is None


def test_unactivated_key_is_not_current() -> None:
    standby = generate_key("session-token", now=T0, entropy=Seeded(), activate=False)
    with pytest.raises(LookupError):
        Keyring([standby]).current("session-token", T0 + timedelta(days=1))


def test_purgeable_exactly_after_max_token_lifetime() -> None:
    key = replace(generate_key("session-token", now=T0, entropy=Seeded()), retired_at=T0)
    assert MAX_TOKEN_LIFETIME == timedelta(seconds=129_600)
    assert not key.purgeable(T0 + MAX_TOKEN_LIFETIME - timedelta(microseconds=1))
    assert key.purgeable(T0 + MAX_TOKEN_LIFETIME)
    assert not generate_key("session-token", now=T0, entropy=Seeded()).purgeable(T0 + timedelta(days=999))
