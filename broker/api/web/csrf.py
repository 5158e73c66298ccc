"""CSRF protection for every form broker serves (OWASP Cross-Site Request Forgery Prevention Cheat Sheet,
https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html).

Two independent checks, both required on every state-changing POST:

1. *Synchronizer token*: a random token lives inside the sealed login-state cookie (which an attacker cannot read
   or forge) and is rendered into the form as a hidden field; the POSTed value must equal it (constant-time).
2. *Origin verification*: when the browser sends ``Origin`` (or, failing that, ``Referer``), its origin must be
   broker's own (``BROKER_PUBLIC_URL``). ``Origin: null`` is refused.

``SameSite=Lax`` on the cookie (``cookies.py``) is a third, browser-side layer.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from broker.ids import Entropy

__all__ = ["CSRF_FIELD", "CsrfError", "check_csrf", "new_csrf_token"]

CSRF_FIELD = "csrf_token"


class CsrfError(Exception):
    """The form failed a CSRF check; ``str()`` says which."""


def new_csrf_token(entropy: Entropy) -> str:
    return entropy.token_bytes(32).hex()


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), parts.hostname.lower(), port if port is not None else default


def check_csrf(expected: str | None, submitted: str | None, headers: Mapping[str, str], public_url: str) -> None:
    """Raise :class:`CsrfError` unless the form token matches and the request comes from broker's own origin."""
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfError("the form's CSRF token is missing or does not match this login")
    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return  # no header to judge by (privacy proxies strip both); the token above still had to match
    if _origin(source) is None or _origin(source) != _origin(public_url):
        raise CsrfError("the form was posted from another site")
