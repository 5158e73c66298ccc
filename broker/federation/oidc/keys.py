"""JWK Sets: parsing a JWKS document into usable verification keys, fail closed.

A JWKS is untrusted input even from the registered issuer: pyjwt raises raw exceptions on some bad keys,
so every key is prepared here and a bad one is skipped with its reason (the others stay usable).
Rules (RFC 7517 §4, RFC 7518 §3.1/§6, RFC 8037 §2):

- ``kty`` must fit the token's ``alg``: ``RSA`` for ``RS*``/``PS*``; ``EC`` with the matching curve for
  ``ES256`` (P-256), ``ES384`` (P-384), ``ES512`` (P-521); ``OKP`` (Ed25519/Ed448) for ``EdDSA``;
- a key's ``use``, when present, must be ``sig``; its ``alg``, when present, must equal the token's;
- symmetric (``oct``) keys are never used, whatever the token says (no HMAC, RFC 8725 §3.2);
- private key members (``d``, ``p``, ``q`` …) make the whole key unusable: an IdP that publishes them is
  broken, and broker will not verify with a key whose secret is public.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from broker.errors import InvalidIdentityToken

__all__ = ["MAX_KEYS", "KeySet", "check_pinned_jwks", "parse_jwks"]

MAX_KEYS = 100
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")


def _fits(jwk: Mapping[str, Any], alg: str) -> str | None:
    """``None`` when ``jwk`` may verify ``alg``, else the reason it may not."""
    kty = jwk.get("kty")
    if jwk.get("use") not in (None, "sig"):
        return f"key use {jwk.get('use')!r} is not 'sig'"
    if "alg" in jwk and jwk["alg"] != alg:
        return f"key alg {jwk['alg']!r} differs from token alg {alg!r}"
    if alg.startswith(("RS", "PS")):
        return None if kty == "RSA" else f"kty {kty!r} cannot verify {alg}"
    if alg in _CURVES:
        if kty != "EC" or jwk.get("crv") != _CURVES[alg]:
            return f"kty {kty!r} crv {jwk.get('crv')!r} cannot verify {alg}"
        return None
    if alg == "EdDSA":
        return None if kty == "OKP" and jwk.get("crv") in ("Ed25519", "Ed448") else f"kty {kty!r} cannot verify EdDSA"
    return f"alg {alg!r} is not allowed"


@dataclass
class KeySet:
    """The public keys of one issuer by ``kid``, with the keys skipped and why."""

    keys: dict[str, Mapping[str, Any]]
    skipped: list[str] = field(default_factory=list)
    _prepared: dict[tuple[str, str], jwt.PyJWK] = field(default_factory=dict, repr=False)

    def __contains__(self, kid: object) -> bool:
        return kid in self.keys

    def key_for(self, kid: str, alg: str) -> jwt.PyJWK:
        """The prepared key for ``kid``/``alg``; ``InvalidIdentityToken`` when none fits."""
        cached = self._prepared.get((kid, alg))
        if cached is not None:
            return cached
        jwk = self.keys.get(kid)
        if jwk is None:
            raise InvalidIdentityToken(
                "Couldn't retrieve verification key from your identity provider, please reference "
                "AssumeRoleWithWebIdentity documentation for requirements",
                detail=f"kid {kid!r} is not in the issuer's JWKS",
            )
        reason = _fits(jwk, alg)
        if reason is not None:
            raise InvalidIdentityToken("The ID token's key does not fit its algorithm", detail=f"kid {kid!r}: {reason}")
        try:
            prepared = jwt.PyJWK(dict(jwk), algorithm=alg)
        except Exception as exc:  # pyjwt raises assorted errors on malformed keys; none may escape
            raise InvalidIdentityToken(
                "The identity provider's verification key is unusable",
                detail=f"kid {kid!r}: {type(exc).__name__}: {exc}",
            ) from None
        self._prepared[(kid, alg)] = prepared
        return prepared


def parse_jwks(document: Any) -> KeySet:
    """Keys by ``kid`` from a JWKS document; malformed keys are skipped with their reason.

    Raises ``ValueError`` when the document as a whole is not a JWK Set.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set: no 'keys' array")
    raw = document["keys"]
    if len(raw) > MAX_KEYS:
        raise ValueError(f"JWK Set has {len(raw)} keys, more than {MAX_KEYS}")
    keys: dict[str, Mapping[str, Any]] = {}
    skipped: list[str] = []
    duplicated: set[str] = set()
    for i, jwk in enumerate(raw):
        if not isinstance(jwk, dict):
            skipped.append(f"keys[{i}]: not an object")
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            skipped.append(f"keys[{i}]: no kid")
            continue
        if jwk.get("kty") not in ("RSA", "EC", "OKP"):
            skipped.append(f"keys[{i}] ({kid}): kty {jwk.get('kty')!r} not usable")
            continue
        if any(m in jwk for m in _PRIVATE):
            skipped.append(f"keys[{i}] ({kid}): private key material published")
            continue
        if kid in keys or kid in duplicated:
            skipped.append(f"keys[{i}] ({kid}): duplicate kid, every key with it dropped")
            keys.pop(kid, None)
            duplicated.add(kid)
            continue
        keys[kid] = jwk
    return KeySet(keys, skipped)


def check_pinned_jwks(text: str, *, max_bytes: int) -> str:
    """Validate a JWK Set an administrator pins to a provider; returns it re-serialized compactly.

    Stricter than :func:`parse_jwks` (which skips bad keys of a fetched document): a pinned document is
    refused as a whole (``ValueError`` listing the reasons) when it is larger than ``max_bytes``, is not a
    JWK Set, has no key, or has any key that would be skipped (no ``kid``, symmetric, private material,
    duplicate ``kid``) or that pyjwt cannot load.
    """
    if len(text.encode()) > max_bytes:
        raise ValueError(f"the JWK Set is larger than {max_bytes} bytes")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise ValueError(f"the JWK Set is not valid JSON: {exc}") from None
    keyset = parse_jwks(document)
    problems = list(keyset.skipped)
    if not keyset.keys and not problems:
        problems.append("the JWK Set has no keys")
    for kid, jwk in keyset.keys.items():
        try:
            jwt.PyJWK(dict(jwk))
        except Exception as exc:  # pyjwt raises assorted errors on malformed keys
            problems.append(f"{kid}: unusable key ({type(exc).__name__})")
    if problems:
        raise ValueError("; ".join(problems))
    return json.dumps(document, separators=(",", ":"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out
