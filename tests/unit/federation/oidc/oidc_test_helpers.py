"""Shared pieces for the OIDC unit tests: a fixed time, an in-process IdP, hand-built tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from broker.federation.oidc.keys import KeySet, parse_jwks
from idp_fixtures.oidc.idp import OidcIdp

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T = int(NOW.timestamp())
ISSUER = "https://idp.example:8443/realms/ci"
AUD = "sts.amazonaws.com"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/idp.example:8443/realms/ci"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any] | str, payload: dict[str, Any] | str, signature: bytes = b"sig") -> str:
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, str) else json.dumps(payload)
    return f"{b64(h.encode())}.{b64(p.encode())}.{b64(signature)}"


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def idp(alg: str = "RS256", issuer: str = ISSUER) -> OidcIdp:
    return OidcIdp(issuer=issuer, alg=alg, default_audience=AUD)


def keyset(provider: OidcIdp) -> KeySet:
    return parse_jwks(provider.jwks())
