"""The signature check verifies the already-decoded token with pyjwt's algorithm object; it must decide
exactly as ``PyJWS.decode_complete`` over the whole compact token does, for every allowed algorithm."""

from __future__ import annotations

import jwt
import pytest
from oidc_test_helpers import T, b64, idp, keyset

from broker.errors import InvalidIdentityToken
from broker.federation.oidc.jose import parse_token
from broker.federation.oidc.keys import KeySet
from broker.federation.oidc.verify import check_signature

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


def _pyjws_accepts(token: str, keys: KeySet) -> bool:
    parsed = parse_token(token)
    key = keys.key_for(parsed.key_id, parsed.algorithm)
    try:
        jwt.PyJWS().decode_complete(token, key=key.key, algorithms=[parsed.algorithm])
    except Exception:
        return False
    return True


def _broker_accepts(token: str, keys: KeySet) -> bool:
    try:
        check_signature(parse_token(token), keys)
    except InvalidIdentityToken:
        return False
    return True


def _variants(token: str, other: str) -> list[str]:
    head, payload, sig = token.split(".")
    raw = bytearray(__import__("base64").urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    flipped = bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    return [
        token,
        f"{head}.{other.split('.')[1]}.{sig}",  # another payload under this signature
        f"{head}.{payload}.{b64(flipped)}",  # one bit of the signature
        f"{head}.{payload}.{b64(bytes(raw[:-3]))}",  # truncated signature
        f"{head}.{payload}.{b64(bytes(raw) + b'x')}",  # one byte too many
        f"{head}.{payload}.{other.split('.')[2]}",  # the other token's signature
    ]


@pytest.mark.parametrize("alg", ALGS)
def test_signature_check_agrees_with_pyjws(alg: str) -> None:
    provider = idp(alg)
    keys = keyset(provider)
    token = provider.mint(now=T, sub="alice")
    other = provider.mint(now=T, sub="mallory")
    verdicts = [(_broker_accepts(t, keys), _pyjws_accepts(t, keys)) for t in _variants(token, other)]
    assert verdicts[0] == (True, True)
    assert all(mine == theirs for mine, theirs in verdicts), verdicts
    assert [mine for mine, _ in verdicts[1:]] == [False] * 5


def test_another_keys_signature_is_refused() -> None:
    provider, stranger = idp("RS256"), idp("RS256")
    forged = stranger.mint(now=T, sub="alice", headers={"kid": provider.keyring.active.kid})
    assert _broker_accepts(forged, keyset(provider)) is False
    assert _pyjws_accepts(forged, keyset(provider)) is False


def test_b64_header_takes_the_pyjws_path_and_is_refused_without_crit() -> None:
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    provider = idp("RS256")
    header = {"alg": "RS256", "kid": provider.keyring.active.kid, "b64": False}
    payload = {"iss": "https://idp.example:8443/realms/ci", "sub": "alice", "iat": T, "exp": T + 60}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = provider.keyring.active.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = f"{signing_input}.{b64(signature)}"
    with pytest.raises(InvalidIdentityToken) as info:
        check_signature(parse_token(token), keyset(provider))
    assert "pyjwt refused" in (info.value.detail or "")
