"""Settings, read once from ``BROKER_*`` environment variables (SPEC.md §1) and passed down.

An optional TOML file named by ``BROKER_CONFIG`` holds the same names in lower case
(``broker_account_id = "123456789012"``); environment variables win over the file.
No module-level settings object exists: ``create_app`` builds one and hands it to whoever needs it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["Settings"]

_SAML_PROVIDER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""IAM's SAML provider name (``CreateSAMLProvider`` ``Name``: ``[\\w._-]+``, 1 to 128 characters)."""
_SAML_PROVIDER_ARN = re.compile(r"arn:([a-z][a-z0-9-]{0,31}):iam::(\d{12}):saml-provider/([A-Za-z0-9_.-]{1,128})")


class _TomlFileSource(PydanticBaseSettingsSource):
    """Values from the TOML file named by ``BROKER_CONFIG`` (lower-case ``broker_*`` keys)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("BROKER_CONFIG")
        if not path:
            return {}
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = key.lower()
            if name.startswith("broker_"):
                name = name[len("broker_") :]
            if name in self.settings_cls.model_fields:
                out[name] = value
        return out


class Settings(BaseSettings):
    """broker's configuration (SPEC.md §1)."""

    model_config = SettingsConfigDict(env_prefix="BROKER_", extra="ignore", frozen=True)

    home: Path = Path("./.broker")
    database_url: str | None = None
    account_id: str = "000000000000"
    partition: str = "aws"
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    root_access_key_id: str | None = None
    root_secret_access_key: SecretStr | None = None
    master_key: SecretStr | None = None
    allow_http_issuers: bool = False
    ca_bundle: Path | None = None
    clock_skew_seconds: int = Field(default=60, ge=0, le=3600)
    sigv4_skew_seconds: int = Field(default=300, ge=0, le=3600)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    oidc_max_token_age_seconds: int = Field(default=86_400, ge=60)
    """ID tokens issued longer ago than this are refused (``ExpiredTokenException: Token too old``)."""
    oidc_min_refetch_seconds: float = Field(default=10.0, ge=0.0)
    """At most one JWKS refetch per issuer per this many seconds on an unknown ``kid``."""
    refuse_unpinned_trust: bool = False
    """CreateRole/UpdateAssumeRolePolicy refuse trust policies for shared OIDC issuers (GitHub Actions, GitLab CI,
    Kubernetes, SPIFFE) that do not pin the workload; off: accepted, findings in the audit event."""
    saml_response_signed_providers: Annotated[tuple[str, ...], NoDecode] = ()
    """SAML providers (names or ARNs, comma-separated) whose Response signature is accepted as covering an unsigned
    Assertion (docs/saml/response-signatures.md). Empty: every assertion must be signed."""
    log_level: str = "INFO"

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not re.fullmatch(r"\d{12}", value):
            raise ValueError("BROKER_ACCOUNT_ID must be 12 digits")
        return value

    @field_validator("partition")
    @classmethod
    def _partition(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", value):
            raise ValueError("BROKER_PARTITION must be a lower-case partition name such as 'aws'")
        return value

    @field_validator("saml_response_signed_providers", mode="before")
    @classmethod
    def _saml_providers_list(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise ValueError("BROKER_SAML_RESPONSE_SIGNED_PROVIDERS must be a comma-separated list of SAML providers")
        names = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
        for name in names:
            if name == "*" or not (_SAML_PROVIDER_NAME.fullmatch(name) or _SAML_PROVIDER_ARN.fullmatch(name)):
                raise ValueError(
                    f"BROKER_SAML_RESPONSE_SIGNED_PROVIDERS: {name[:140]!r} is not a SAML provider name or ARN"
                    " (no wildcard: name each provider)"
                )
        return names

    @model_validator(mode="after")
    def _saml_providers_here(self) -> Settings:
        for entry in self.saml_response_signed_providers:
            arn = _SAML_PROVIDER_ARN.fullmatch(entry)
            if arn is not None and (arn.group(1), arn.group(2)) != (self.partition, self.account_id):
                raise ValueError(
                    f"BROKER_SAML_RESPONSE_SIGNED_PROVIDERS: {entry} is not in partition {self.partition} "
                    f"account {self.account_id}"
                )
        return self

    @property
    def saml_response_signed_provider_names(self) -> frozenset[str]:
        """The names of :attr:`saml_response_signed_providers` (an ARN's last part; ARNs are of this account)."""
        return frozenset(entry.rsplit("/", 1)[-1] for entry in self.saml_response_signed_providers)

    @model_validator(mode="after")
    def _root_pair(self) -> Settings:
        if (self.root_access_key_id is None) != (self.root_secret_access_key is None):
            raise ValueError("set both BROKER_ROOT_ACCESS_KEY_ID and BROKER_ROOT_SECRET_ACCESS_KEY, or neither")
        if self.root_access_key_id is not None and not re.fullmatch(r"AKIA[A-Z0-9]{16}", self.root_access_key_id):
            raise ValueError("BROKER_ROOT_ACCESS_KEY_ID must look like an AWS access key id (AKIA + 16)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        """The store URL: ``BROKER_DATABASE_URL`` or SQLite in ``BROKER_HOME``."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.home / 'broker.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
