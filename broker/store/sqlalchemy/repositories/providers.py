"""Provider repository: IAM OIDC and SAML providers as frozen records.

Every change bumps the ``providers`` change counter in the same transaction, so per-node provider caches
(issuer → provider, name → metadata) know when to reload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.errors import EntityAlreadyExists
from broker.store.sqlalchemy.models.providers import OidcProviderRow, SamlProviderRow
from broker.store.sqlalchemy.repositories.security import bump_counter

__all__ = ["UNSET", "OidcProviderRecord", "ProviderRepository", "SamlProviderRecord", "Tag"]

Tag = tuple[str, str]
TOPIC = "providers"


class _Unset:
    """The type of :data:`UNSET`: "leave this column as it is" where ``None`` is a value."""


UNSET = _Unset()


@dataclass(frozen=True, slots=True)
class OidcProviderRecord:
    arn: str
    url: str
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    tags: tuple[Tag, ...]
    created_at: datetime
    pinned_jwks: str | None = None
    """The administrator-pinned JWK Set document (JSON text), or ``None``: keys are fetched from the issuer."""


@dataclass(frozen=True, slots=True)
class SamlProviderRecord:
    arn: str
    name: str
    metadata_document: str
    entity_id: str
    signing_certificates: tuple[str, ...]
    """Base64 DER certificates, document order."""
    valid_until: datetime | None
    tags: tuple[Tag, ...]
    created_at: datetime
    updated_at: datetime


def _tags_json(tags: Sequence[Tag]) -> list[dict[str, object]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _tags(data: list[dict[str, object]]) -> tuple[Tag, ...]:
    return tuple((str(t["Key"]), str(t["Value"])) for t in data)


def _oidc(row: OidcProviderRow) -> OidcProviderRecord:
    return OidcProviderRecord(
        row.arn, row.url, tuple(row.client_ids), tuple(row.thumbprints), _tags(row.tags), row.created_at,
        row.pinned_jwks,
    )


def _saml(row: SamlProviderRow) -> SamlProviderRecord:
    return SamlProviderRecord(
        row.arn,
        row.name,
        row.metadata_document,
        row.entity_id,
        tuple(row.signing_certificates),
        row.valid_until,
        _tags(row.tags),
        row.created_at,
        row.updated_at,
    )


class ProviderRepository:
    """OIDC and SAML providers for one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert(self, row: OidcProviderRow | SamlProviderRow, what: str) -> None:
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError as exc:
            raise EntityAlreadyExists(f"{what} already exists.") from exc
        bump_counter(self.session, TOPIC)

    def counter(self) -> int:
        from broker.store.sqlalchemy.repositories.security import SecurityRepository

        return SecurityRepository(self.session).counter(TOPIC)

    # --- OIDC -----------------------------------------------------------------------------------

    def create_oidc(
        self,
        arn: str,
        url: str,
        client_ids: Sequence[str],
        thumbprints: Sequence[str],
        tags: Sequence[Tag],
        created_at: datetime,
    ) -> OidcProviderRecord:
        """Insert a provider; :class:`EntityAlreadyExists` when the ARN or URL is taken (also across nodes)."""
        if self._oidc_row(arn) is not None or self.get_oidc_by_url(url) is not None:
            raise EntityAlreadyExists(f"Provider with url {url} already exists.")
        row = OidcProviderRow(
            arn=arn,
            url=url,
            client_ids=list(client_ids),
            thumbprints=list(thumbprints),
            tags=_tags_json(tags),
            created_at=created_at,
        )
        self._insert(row, f"Provider with url {url}")
        return _oidc(row)

    def _oidc_row(self, arn: str) -> OidcProviderRow | None:
        return self.session.execute(select(OidcProviderRow).where(OidcProviderRow.arn == arn)).scalar_one_or_none()

    def get_oidc(self, arn: str) -> OidcProviderRecord | None:
        row = self._oidc_row(arn)
        return _oidc(row) if row is not None else None

    def get_oidc_by_url(self, url: str) -> OidcProviderRecord | None:
        """The provider whose issuer URL is exactly ``url`` (byte-for-byte: path, port and case)."""
        row = self.session.execute(select(OidcProviderRow).where(OidcProviderRow.url == url)).scalar_one_or_none()
        return _oidc(row) if row is not None else None

    def list_oidc(self) -> list[OidcProviderRecord]:
        return [_oidc(r) for r in self.session.scalars(select(OidcProviderRow).order_by(OidcProviderRow.arn))]

    def count_oidc(self) -> int:
        return int(self.session.execute(select(func.count()).select_from(OidcProviderRow)).scalar_one())

    def update_oidc(
        self,
        arn: str,
        *,
        client_ids: Sequence[str] | None = None,
        thumbprints: Sequence[str] | None = None,
        tags: Sequence[Tag] | None = None,
        pinned_jwks: str | _Unset | None = UNSET,
    ) -> OidcProviderRecord | None:
        """Replace the given lists (and the pinned JWKS, ``None`` clearing it); ``None`` when no such provider."""
        row = self._oidc_row(arn)
        if row is None:
            return None
        if not isinstance(pinned_jwks, _Unset):
            row.pinned_jwks = pinned_jwks
        if client_ids is not None:
            row.client_ids = list(client_ids)
        if thumbprints is not None:
            row.thumbprints = list(thumbprints)
        if tags is not None:
            row.tags = _tags_json(tags)
        self.session.flush()
        bump_counter(self.session, TOPIC)
        return _oidc(row)

    def delete_oidc(self, arn: str) -> bool:
        result = self.session.execute(delete(OidcProviderRow).where(OidcProviderRow.arn == arn))
        if result.rowcount:  # type: ignore[attr-defined]
            bump_counter(self.session, TOPIC)
            return True
        return False

    # --- SAML -----------------------------------------------------------------------------------

    def create_saml(
        self,
        arn: str,
        name: str,
        metadata_document: str,
        entity_id: str,
        signing_certificates: Sequence[str],
        valid_until: datetime | None,
        tags: Sequence[Tag],
        created_at: datetime,
    ) -> SamlProviderRecord:
        if self._saml_row(arn) is not None:
            raise EntityAlreadyExists(f"SAMLProvider {name} already exists.")
        row = SamlProviderRow(
            arn=arn,
            name=name,
            metadata_document=metadata_document,
            entity_id=entity_id,
            signing_certificates=list(signing_certificates),
            valid_until=valid_until,
            tags=_tags_json(tags),
            created_at=created_at,
            updated_at=created_at,
        )
        self._insert(row, f"SAMLProvider {name}")
        return _saml(row)

    def _saml_row(self, arn: str) -> SamlProviderRow | None:
        return self.session.execute(select(SamlProviderRow).where(SamlProviderRow.arn == arn)).scalar_one_or_none()

    def get_saml(self, arn: str) -> SamlProviderRecord | None:
        row = self._saml_row(arn)
        return _saml(row) if row is not None else None

    def get_saml_by_name(self, name: str) -> SamlProviderRecord | None:
        row = self.session.execute(select(SamlProviderRow).where(SamlProviderRow.name == name)).scalar_one_or_none()
        return _saml(row) if row is not None else None

    def list_saml(self) -> list[SamlProviderRecord]:
        return [_saml(r) for r in self.session.scalars(select(SamlProviderRow).order_by(SamlProviderRow.arn))]

    def count_saml(self) -> int:
        return int(self.session.execute(select(func.count()).select_from(SamlProviderRow)).scalar_one())

    def update_saml_metadata(
        self,
        arn: str,
        metadata_document: str,
        entity_id: str,
        signing_certificates: Sequence[str],
        valid_until: datetime | None,
        updated_at: datetime,
    ) -> SamlProviderRecord | None:
        row = self._saml_row(arn)
        if row is None:
            return None
        row.metadata_document = metadata_document
        row.entity_id = entity_id
        row.signing_certificates = list(signing_certificates)
        row.valid_until = valid_until
        row.updated_at = updated_at
        self.session.flush()
        bump_counter(self.session, TOPIC)
        return _saml(row)

    def set_saml_tags(self, arn: str, tags: Sequence[Tag]) -> SamlProviderRecord | None:
        row = self._saml_row(arn)
        if row is None:
            return None
        row.tags = _tags_json(tags)
        self.session.flush()
        bump_counter(self.session, TOPIC)
        return _saml(row)

    def delete_saml(self, arn: str) -> bool:
        result = self.session.execute(delete(SamlProviderRow).where(SamlProviderRow.arn == arn))
        if result.rowcount:  # type: ignore[attr-defined]
            bump_counter(self.session, TOPIC)
            return True
        return False
