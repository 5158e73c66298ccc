"""Encoded authorization failure messages, sealed with a session-token keyring key.

AWS STS API Reference, API_DecodeAuthorizationMessage
(https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html): a denied
request may carry an encoded message whose decoded form says whether the request was allowed, whether
an explicit deny applied, the matched statements, failures, and the request context (principal,
action, resource, conditions). Only callers allowed ``sts:DecodeAuthorizationMessage`` may decode it.

Layout: URL-safe base64 of ``0x01 | len(kid) | kid | nonce (12) | AES-256-GCM(zlib(JSON))`` with
``b"authz-message:" + header`` as associated data, so a session token never opens as a message (or
the other way round). Messages expire after :data:`MESSAGE_LIFETIME`.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.credentials.keyring import Keyring
from broker.errors import InvalidAuthorizationMessageException
from broker.ids import Entropy

__all__ = ["MESSAGE_LIFETIME", "build_message", "open_message", "seal_message"]

MESSAGE_LIFETIME = timedelta(hours=12)
_AAD = b"authz-message:"
_INVALID = "The encoded message is invalid or has expired."


def build_message(
    *,
    allowed: bool,
    explicit_deny: bool,
    matched: Sequence[Mapping[str, Any]],
    principal: Mapping[str, str],
    action: str,
    resource: str,
    conditions: Mapping[str, Any],
    failures: Sequence[str] = (),
) -> dict[str, Any]:
    """The decoded JSON shape (API_DecodeAuthorizationMessage, "Response Elements")."""
    items = []
    for key, value in sorted(conditions.items()):
        values = [value] if isinstance(value, (str, bool, int, float)) else list(value)
        text = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        items.append({"item": {"key": key, "values": text}})
    return {
        "allowed": allowed,
        "explicitDeny": explicit_deny,
        "matchedStatements": {"items": [dict(m) for m in matched]},
        "failures": {"items": list(failures)},
        "context": {"principal": dict(principal), "action": action, "resource": resource, "conditions": items},
    }


def seal_message(message: Mapping[str, Any], keyring: Keyring, *, now: datetime, entropy: Entropy) -> str:
    key = keyring.current("session-token", now)
    kid = key.key_id.encode("ascii")
    header = bytes([1, len(kid)]) + kid
    body = {"m": message, "exp": int((now + MESSAGE_LIFETIME).timestamp())}
    plaintext = zlib.compress(json.dumps(body, separators=(",", ":"), default=str).encode("utf-8"), 9)
    nonce = entropy.token_bytes(12)
    sealed = AESGCM(key.secret).encrypt(nonce, plaintext, _AAD + header)
    return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")


def open_message(text: str, keyring: Keyring, *, now: datetime) -> dict[str, Any]:
    """The decoded message; ``InvalidAuthorizationMessageException`` when forged, foreign or expired."""

    def invalid(reason: str) -> InvalidAuthorizationMessageException:
        return InvalidAuthorizationMessageException(_INVALID, detail=reason)

    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("not base64url") from exc
    if len(raw) < 2 or raw[0] != 1 or raw[1] == 0 or len(raw) < 2 + raw[1] + 12 + 16:
        raise invalid("truncated or unknown version")
    end = 2 + raw[1]
    key = keyring.by_kid(raw[2:end].decode("ascii", "replace"))
    if key is None or key.purpose != "session-token":
        raise invalid("unknown key id")
    try:
        plaintext = AESGCM(key.secret).decrypt(raw[end : end + 12], raw[end + 12 :], _AAD + raw[:end])
        inflater = zlib.decompressobj()
        body = json.loads(inflater.decompress(plaintext, 256 * 1024))
    except (InvalidTag, zlib.error, ValueError) as exc:
        raise invalid(f"cannot open: {type(exc).__name__}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("exp"), int) or not isinstance(body.get("m"), dict):
        raise invalid("malformed body")
    if now.timestamp() >= body["exp"]:
        raise invalid("expired")
    message: dict[str, Any] = body["m"]
    return message
