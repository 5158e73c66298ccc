"""Tasks 3 and 4 of SigV4: derive the signing key and compute the signature.

IAM User Guide, "Create a signed AWS API request", section "Step 4: Calculate the signature"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#calculate-signature)::

    kDate    = HMAC("AWS4" + secret, date)
    kRegion  = HMAC(kDate, region)
    kService = HMAC(kRegion, service)
    kSigning = HMAC(kService, "aws4_request")
    signature = hex(HMAC(kSigning, string_to_sign))

Standard HMAC-SHA256 from the standard library (``hmac``/``hashlib``). The derived key depends only
on (secret, date, region, service), so it is cached (LRU, bounded). The cache never holds the
plaintext secret: its key is an HMAC of the secret under a per-process random salt.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict

from broker.credentials.sigv4.auth import TERMINATOR

__all__ = ["SigningKeyCache", "derive_signing_key", "signature", "signing_key"]


def _hmac(key: bytes, message: str) -> bytes:
    # hmac.digest is the one-shot C implementation (same result as hmac.new(...).digest(), ~3x faster)
    return hmac.digest(key, message.encode("utf-8"), "sha256")


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The uncached HMAC chain."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, TERMINATOR)


class SigningKeyCache:
    """A bounded, thread-safe LRU of derived signing keys keyed by a salted hash of the secret."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._maxsize = maxsize
        self._salt = secrets.token_bytes(32)
        self._entries: OrderedDict[tuple[bytes, str, str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"SigningKeyCache(size={len(self._entries)}, maxsize={self._maxsize})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, secret: str, date: str, region: str, service: str) -> bytes:
        fingerprint = hmac.digest(self._salt, secret.encode("utf-8"), "sha256")
        key = (fingerprint, date, region, service)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
        derived = derive_signing_key(secret, date, region, service)
        with self._lock:
            self.misses += 1
            self._entries[key] = derived
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return derived

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_DEFAULT_CACHE = SigningKeyCache()


def signing_key(secret: str, date: str, region: str, service: str, *, cache: SigningKeyCache | None = None) -> bytes:
    """The SigV4 signing key, from ``cache`` (the module's default cache unless given)."""
    chosen = cache if cache is not None else _DEFAULT_CACHE
    return chosen.get(secret, date, region, service)


def signature(key: bytes, string_to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 of the string to sign under the signing key."""
    return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()
