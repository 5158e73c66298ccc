"""Identity-provider tables: IAM OIDC providers and SAML providers.

OIDC providers are looked up by the token's ``iss`` with an exact string match (path and port included),
so ``url`` is unique and indexed. Client ids, thumbprints and tags are small ordered lists kept as JSON on
the row: they are always read and written together with their provider.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.sqlalchemy.models.base import Base, UtcDateTime

__all__ = ["OidcProviderRow", "SamlProviderRow"]


class OidcProviderRow(Base):
    """One IAM OIDC provider (``arn:…:oidc-provider/HOST[:PORT]/PATH``)."""

    __tablename__ = "oidc_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str] = mapped_column(String(255), unique=True)
    """The exact issuer URL as registered; ``iss`` must equal it."""
    client_ids: Mapped[list[str]] = mapped_column(JSON)
    thumbprints: Mapped[list[str]] = mapped_column(JSON)
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pinned_jwks: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    """A JWK Set document registered by an administrator: when set, the issuer's keys are these and are never
    fetched (``broker oidc-provider pin-jwks``)."""


class SamlProviderRow(Base):
    """One SAML provider (``arn:…:saml-provider/NAME``) and what was extracted from its metadata."""

    __tablename__ = "saml_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    metadata_document: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    signing_certificates: Mapped[list[str]] = mapped_column(JSON)
    """DER certificates, base64, in document order."""
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
