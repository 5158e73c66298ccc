"""Certificate thumbprint pinning for the discovery and JWKS connections of an OIDC provider.

AWS (IAM User Guide, "Obtain the thumbprint for an OpenID Connect identity provider",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html): a
provider's ``ThumbprintList`` holds the hex SHA-1 of the **top intermediate CA** certificate of the chain the
IdP's HTTPS server presents (what ``openssl s_client -showcerts`` prints last); when the issuer (discovery)
host and the ``jwks_uri`` host differ, the list must hold a thumbprint for each, and a connection whose
thumbprint is missing fails.

broker's rule, stricter than AWS (which uses thumbprints only as a fallback for IdPs outside its trusted CA
library): when a provider has thumbprints, **every** discovery and JWKS response (redirect hops included)
must come over TLS that verified as usual (system store plus ``BROKER_CA_BUNDLE``) **and** whose chain holds
a certificate with a listed thumbprint. Candidates are the last certificate the server sent (AWS's "top
intermediate CA") and every certificate of the verified chain (so an administrator may also pin a private root
CA or the leaf). A plain ``http://`` connection, or a chain that cannot be read, fails closed.

Thumbprints are public values (hashes of public certificates); they are compared with
:func:`hmac.compare_digest` anyway, case-insensitively.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

__all__ = ["chain_thumbprints", "matching_thumbprint", "normalize", "thumbprint"]

_ENCODING_DER = 2  # _ssl.ENCODING_DER


def thumbprint(der: bytes) -> str:
    """The lower-case hex SHA-1 of a DER certificate (AWS's thumbprint format)."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def normalize(thumbprints: Iterable[str]) -> frozenset[str]:
    return frozenset(t.strip().lower() for t in thumbprints)


def _der_chain(ssl_object: Any, method: str) -> list[bytes]:
    """``get_verified_chain``/``get_unverified_chain`` as DER bytes: public on Python 3.13+, on the internal
    ``_sslobj`` before (present since 3.10); ``[]`` when neither exists."""
    getter = getattr(ssl_object, method, None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), method, None)
    if getter is None:
        return []
    out: list[bytes] = []
    for cert in getter() or []:
        out.append(cert if isinstance(cert, bytes) else bytes(cert.public_bytes(_ENCODING_DER)))
    return out


def chain_thumbprints(ssl_object: Any) -> list[str]:
    """Thumbprints of the candidate certificates of one TLS connection: the top certificate the server sent
    first, then the verified chain from leaf to trust anchor (duplicates removed)."""
    served = _der_chain(ssl_object, "get_unverified_chain")
    verified = _der_chain(ssl_object, "get_verified_chain")
    candidates = ([served[-1]] if served else []) + verified
    return list(dict.fromkeys(thumbprint(der) for der in candidates))


def matching_thumbprint(candidates: Iterable[str], pinned: frozenset[str]) -> str | None:
    """The first candidate that is in ``pinned`` (constant-time comparisons), else ``None``."""
    for candidate in candidates:
        for pin in pinned:
            if hmac.compare_digest(candidate.encode(), pin.encode()):
                return candidate
    return None
