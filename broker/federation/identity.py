"""FederatedIdentity: what a verified external token says about its bearer.

Produced by ``federation/oidc`` (and later ``federation/saml``) after every check passed; consumed by
``trust`` (context keys for the role's trust policy) and by the service layer (session name, tags,
source identity, audit). Pure data. The raw token is never kept: only a SHA-256 digest of it, so the
audit log can name a token without holding it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["FederatedIdentity"]


@dataclass(frozen=True)
class FederatedIdentity:
    """A verified federated principal.

    ``provider_arn`` is the IAM provider the token matched (``arn:…:oidc-provider/HOST/PATH``);
    ``issuer`` the exact ``iss``; ``key_prefix`` the condition-key prefix (the issuer without its scheme,
    path and port kept); ``audience`` the client id that matched; ``context`` the condition keys for
    trust evaluation (``PREFIX:sub``, ``PREFIX:aud`` …, see ``federation/oidc/claims.py``);
    ``session_tags`` and ``transitive_tag_keys`` come from the ``https://aws.amazon.com/tags`` claim and
    ``source_identity`` from ``https://aws.amazon.com/source_identity``.
    """

    provider_arn: str
    issuer: str
    key_prefix: str
    subject: str
    audience: str
    issued_at: datetime
    expires_at: datetime
    token_digest: str
    key_id: str
    algorithm: str
    claims: Mapping[str, Any] = field(repr=False)
    context: Mapping[str, str | list[str]] = field(repr=False)
    session_tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    azp: str | None = None

    def redacted_claims(self, visible: frozenset[str] | None = None) -> dict[str, Any]:
        """The claims for an audit trail: every value hidden except the names in ``visible``.

        ``None`` shows the standard identity claims (``iss``, ``sub``, ``aud``, ``azp``, ``exp``,
        ``iat``, ``nbf``, ``jti``); an operator widens or narrows this by configuration.
        """
        shown = visible if visible is not None else _STANDARD
        return {k: (v if k in shown else "HIDDEN") for k, v in self.claims.items()}


_STANDARD = frozenset({"iss", "sub", "aud", "azp", "exp", "iat", "nbf", "jti"})
