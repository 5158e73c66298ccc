"""The cheaper mint (issue 5): each shortcut equals the general form it replaced.

- the claims JSON written directly (strings escaped by the encoder's C function), or for values of unexpected
  types built in one dict with a cached encoder: the very text the old two-dict ``json.dumps`` built;
- small payloads deflated with a 4 KiB window and memLevel 6: the same plaintext on inflating, no larger than
  ``zlib.compress(raw, 9)``, openable by the default inflater (so tokens from either form open on either);
- the AES-GCM object cached per keyring key: only for the keyring's own key objects, gone with the keyring;
- one entropy draw per mint, split in order: nothing else drawn, no byte used twice.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import ids
from broker.credentials import mint as mint_module
from broker.credentials import session_token as st
from broker.credentials.keyring import Keyring, generate_key
from broker.credentials.mint import SessionSpec, mint
from broker.credentials.session_token import SessionClaims, SessionTokenCodec

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class Seeded:
    def __init__(self, seed: int = 7) -> None:
        self._rng = random.Random(seed)
        self.calls: list[int] = []

    def token_bytes(self, n: int) -> bytes:
        self.calls.append(n)
        return self._rng.randbytes(n)


def _reference_json(claims: SessionClaims) -> str:
    """The claims JSON as pack_claims built it before (two dicts, ``json.dumps`` per call)."""
    body: dict[str, Any] = {
        "v": 2, "ak": claims.access_key_id, "sk": claims.secret_access_key, "k": claims.kind, "a": claims.account,
        "pa": claims.principal_arn, "pi": claims.principal_id, "pn": claims.principal_name,
        "iat": int(claims.issued_at.timestamp()), "exp": int(claims.expires_at.timestamp()), "sid": claims.session_id,
    }
    optional: dict[str, Any] = {
        "sn": claims.session_name,
        "p": claims.policy,
        "pm": list(claims.policy_arns) or None,
        "tg": [list(t) for t in claims.tags] or None,
        "tt": list(claims.transitive_tag_keys) or None,
        "si": claims.source_identity,
        "mfa": int(claims.mfa_authenticated_at.timestamp()) if claims.mfa_authenticated_at else None,
        "cd": claims.chain_depth or None,
        "fp": claims.federated_provider,
        "fs": claims.federated_subject,
        "fk": {k: (list(v) if isinstance(v, tuple) else v) for k, v in claims.federated_keys} or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _reference_seal(claims: SessionClaims, key: Any, nonce: bytes) -> str:
    """A token as seal made it before: level 9 with zlib's default window, a fresh AESGCM."""
    raw = key.key_id.encode("ascii")
    header = bytes([1, len(raw)]) + raw
    body = AESGCM(key.secret).encrypt(nonce, zlib.compress(_reference_json(claims).encode("utf-8"), 9), header)
    return base64.urlsafe_b64encode(header + nonce + body).rstrip(b"=").decode("ascii")


def _word(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "/:-_*é€", k=rng.randint(low, high)))


def _random_claims(rng: random.Random) -> SessionClaims:
    statements = [
        {"Effect": "Allow", "Action": f"s3:{_word(rng, 3, 12)}", "Resource": f"arn:aws:s3:::{_word(rng, 1, 30)}"}
        for _ in range(rng.randint(0, 30))
    ]
    keys: list[tuple[str, str | tuple[str, ...]]] = [("idp.example:sub", _word(rng, 0, 40))]
    if rng.random() < 0.5:
        keys.append(("idp.example:amr", tuple(_word(rng, 0, 5) for _ in range(rng.randint(0, 3)))))
    return SessionClaims(
        access_key_id="ASIA" + _word(rng, 16, 16), secret_access_key=_word(rng, 40, 40),
        kind=rng.choice(["assumed-role", "user", "root", "federated-user"]), account="123456789012",
        principal_arn=f"arn:aws:iam::123456789012:role/{_word(rng, 1, 64)}", principal_id="AROA" + "A" * 17,
        principal_name=_word(rng, 1, 64), issued_at=T0, expires_at=T0 + timedelta(seconds=rng.randint(900, 129_600)),
        session_id=rng.randbytes(16).hex(),
        session_name=rng.choice([None, "", _word(rng, 2, 64)]),
        policy=json.dumps({"Version": "2012-10-17", "Statement": statements}) if statements else None,
        policy_arns=tuple(f"arn:aws:iam::123456789012:policy/{_word(rng, 1, 40)}" for _ in range(rng.randint(0, 6))),
        tags=tuple((_word(rng, 1, 20), _word(rng, 0, 60)) for _ in range(rng.randint(0, 40))),
        transitive_tag_keys=tuple(_word(rng, 1, 20) for _ in range(rng.randint(0, 3))),
        source_identity=rng.choice([None, _word(rng, 2, 64)]),
        mfa_authenticated_at=rng.choice([None, T0 - timedelta(seconds=rng.randint(0, 999))]),
        chain_depth=rng.choice([0, 0, 1, 3]),
        federated_provider=rng.choice([None, "arn:aws:iam::123456789012:oidc-provider/idp.example"]),
        federated_subject=rng.choice([None, _word(rng, 0, 40)]),
        federated_keys=tuple(keys) if rng.random() < 0.7 else (),
    )


def test_claims_json_equals_the_two_dict_form() -> None:
    rng = random.Random(3)
    for _ in range(400):
        claims = _random_claims(rng)
        assert st._claims_json_direct(claims) == _reference_json(claims)  # the direct form, no fallback
        assert st._claims_json(claims) == st._claims_json_general(claims) == _reference_json(claims)


@pytest.mark.parametrize("over", [
    {"chain_depth": True},  # a bool where an int is declared: the general encoder writes true
    {"access_key_id": 12345},  # a number where a string is declared: written as a number
    {"federated_keys": (("idp:amr", ["pwd", "mfa"]),)},  # a list, not a tuple
    {"federated_keys": (("idp:sub", "a"), ("idp:aud", "b"), ("idp:sub", "c"))},  # repeated key: last value, first place
    {"federated_keys": (("idp:x", 5),)},
    {"tags": (("a", "b", "c"), ("d",))},  # not pairs: each written as given
    {"session_name": "", "policy": "", "source_identity": "\u2028\"\\\n\x00é"},
    {"chain_depth": 0, "mfa_authenticated_at": None, "federated_keys": ()},
])
def test_claims_json_edge_values(over: dict[str, Any]) -> None:
    claims = replace(_random_claims(random.Random(1)), **over)
    assert st._claims_json(claims) == _reference_json(claims) == st._claims_json_general(claims)


def test_deflate_inflates_to_the_same_payload_and_is_no_larger() -> None:
    rng = random.Random(4)
    small = large = 0
    for _ in range(400):
        raw = st._claims_json(_random_claims(rng)).encode("utf-8")
        packed = st._deflate(raw)
        assert zlib.decompressobj().decompress(packed) == raw
        assert len(packed) <= len(zlib.compress(raw, 9))
        if len(raw) > st._SMALL_PAYLOAD:
            large += 1
            assert packed == zlib.compress(raw, 9)  # larger payloads: the default window, as before
        else:
            small += 1
    assert small > 50 and large > 50  # both branches exercised


@pytest.fixture
def ring() -> Keyring:
    return Keyring([generate_key("session-token", now=T0 - timedelta(days=1), entropy=Seeded(1))])


def test_tokens_of_either_form_open_alike(ring: Keyring) -> None:
    rng = random.Random(5)
    key = ring.current("session-token", T0)
    for i in range(150):
        claims = _random_claims(rng)
        new = SessionTokenCodec(ring).seal(claims, now=T0, entropy=Seeded(i))
        old = _reference_seal(claims, key, random.Random(i).randbytes(12))
        assert SessionTokenCodec(ring).open_at(new, T0) == claims
        assert SessionTokenCodec(ring).open_at(old, T0) == claims
        assert len(new) <= len(old)
        # The new token under the old opening (a fresh AESGCM, the default inflater): what older nodes run.
        raw = base64.urlsafe_b64decode(new + "=" * (-len(new) % 4))
        end = 2 + raw[1]
        plaintext = AESGCM(key.secret).decrypt(raw[end:end + 12], raw[end + 12:], raw[:end])
        assert zlib.decompress(plaintext) == _reference_json(claims).encode("utf-8")


def test_session_aead_cached_per_held_key_only(ring: Keyring) -> None:
    key = ring.current("session-token", T0)
    aead = ring.session_aead(key)
    assert ring.session_aead(key) is aead
    assert aead.decrypt(b"n" * 12, AESGCM(key.secret).encrypt(b"n" * 12, b"x", b"h"), b"h") == b"x"
    # Another key object under the same id (e.g. passed in by a caller) is never served the cached cipher.
    imposter = replace(key, secret=bytes(32))
    other = ring.session_aead(imposter)
    assert other is not aead and ring.session_aead(key) is aead
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag: the imposter's cipher is its own key's
        other.decrypt(b"n" * 12, aead.encrypt(b"n" * 12, b"x", b""), b"")
    # A new keyring (what a reload after rotation or purge builds) starts without the old ciphers.
    rotated = ring.with_keys([generate_key("session-token", now=T0, entropy=Seeded(2))])
    assert rotated.session_aead(rotated.by_kid(key.key_id)) is not aead  # type: ignore[arg-type]
    purged = Keyring([k for k in rotated.keys if k.key_id != key.key_id])
    assert purged.by_kid(key.key_id) is None and key.key_id not in purged._aead
    signing = generate_key("jwt-signing", now=T0, entropy=Seeded(3), algorithm="EdDSA")
    with pytest.raises(ValueError):
        Keyring([signing]).session_aead(signing)
    assert key.secret.hex() not in repr(ring) and "AESGCM" not in repr(ring)


def test_seal_uses_the_cached_cipher_and_opens_with_it(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    claims = _random_claims(random.Random(6))
    token = codec.seal(claims, now=T0, entropy=Seeded())
    assert list(ring._aead) == [ring.current("session-token", T0).key_id]
    assert SessionTokenCodec(ring).open_at(token, T0) == claims


def _spec() -> SessionSpec:
    return SessionSpec(
        kind="assumed-role", account="123456789012", principal_arn="arn:aws:iam::123456789012:role/app",
        principal_id="AROAAAAAAAAAAAAAAAAAA", principal_name="app", duration_seconds=900, session_name="s",
        chain_depth=1, federated_provider="arn:aws:iam::123456789012:oidc-provider/idp.example",
        federated_subject="sub", federated_keys=(("idp.example:sub", "sub"), ("idp.example:aud", "client")),
    )


def test_mint_draws_once_and_uses_each_byte_once(ring: Keyring) -> None:
    source = Seeded(8)
    minted = mint(_spec(), codec=SessionTokenCodec(ring), now=T0, entropy=source)
    assert source.calls == [mint_module._MINT_DRAW]  # one draw, nothing else taken
    drawn = random.Random(8).randbytes(mint_module._MINT_DRAW)
    pieces = iter(drawn[i:j] for i, j in ((0, 32), (32, 112), (112, 128), (128, 140)))

    class Replay:
        def token_bytes(self, n: int) -> bytes:
            piece = next(pieces)
            assert len(piece) == n
            return piece

    replay = Replay()
    assert minted.access_key_id == ids.temporary_access_key_id(replay)
    assert minted.secret_access_key == ids.secret_access_key(replay)
    assert minted.claims.session_id == replay.token_bytes(16).hex()
    raw = base64.urlsafe_b64decode(minted.session_token + "=" * (-len(minted.session_token) % 4))
    assert raw[2 + raw[1]:2 + raw[1] + 12] == replay.token_bytes(12)  # the nonce: the last 12 bytes
    assert mint_module._MINT_DRAW == 140
    assert SessionTokenCodec(ring).open_at(minted.session_token, T0) == minted.claims


def test_mint_with_the_system_entropy_stays_distinct(ring: Keyring) -> None:
    codec = SessionTokenCodec(ring)
    minted = [mint(_spec(), codec=codec, now=T0, entropy=ids.SystemEntropy()) for _ in range(50)]
    for attr in ("access_key_id", "secret_access_key", "session_token"):
        assert len({getattr(m, attr) for m in minted}) == 50
    assert len({m.claims.session_id for m in minted}) == 50
    for m in minted:
        assert codec.open_at(m.session_token, T0) == m.claims
