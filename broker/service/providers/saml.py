"""IAM SAML providers: Create/Get/List/Update/Delete and tags.

AWS rules (IAM API Reference, CreateSAMLProvider, https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html):
``Name`` 1-128 ``[\\w._-]+`` and unique (``EntityAlreadyExists``); ``SAMLMetadataDocument`` 1,000-10,000,000
characters, the IdP's metadata with its entity id and signing keys; a bad document is ``InvalidInput``.
The ARN is ``arn:…:saml-provider/NAME``. GetSAMLProvider returns the document, ``CreateDate``,
``ValidUntil`` and ``Tags`` (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetSAMLProvider.html).

The document is parsed by :mod:`broker.federation.saml.metadata` (no DTDs, no entities, certificates
checked). Not supported, and refused with ``InvalidInput`` rather than silently ignored: assertion
encryption keys (``AddPrivateKey``, ``AssertionEncryptionMode=Required``), ``ContextProvider`` and
IAM Identity Center settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from broker.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from broker.federation.saml.metadata import IdpMetadata, MetadataError, parse_idp_metadata
from broker.service.env import OpEnv
from broker.service.providers.common import (
    ProviderSettings,
    check_provider_arn,
    list_tags_page,
    merge_tags,
    new_tags,
    providers,
    tag_context,
    tags_shape,
    untag,
)

if TYPE_CHECKING:  # records come from the store adapter; the service never imports it at run time
    from broker.store.sqlalchemy.repositories.providers import SamlProviderRecord

__all__ = [
    "create_saml_provider",
    "delete_saml_provider",
    "get_saml_provider",
    "list_saml_provider_tags",
    "list_saml_providers",
    "parse_metadata_document",
    "tag_saml_provider",
    "untag_saml_provider",
    "update_saml_provider",
]

_UNSUPPORTED = ("AddPrivateKey", "RemovePrivateKey", "ContextProvider", "IdentityCenterInstanceArn")


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    for member in _UNSUPPORTED:
        if params.get(member) not in (None, False):
            raise InvalidInput(f"{member} is not supported by this broker.")
    if params.get("AssertionEncryptionMode") == "Required":
        raise InvalidInput("AssertionEncryptionMode Required is not supported by this broker.")


def parse_metadata_document(env: OpEnv, document: str) -> IdpMetadata:
    """Parse the metadata or raise ``InvalidInput`` with every problem (also in the audit detail)."""
    try:
        return parse_idp_metadata(document, now=env.call.now)
    except MetadataError as exc:
        raise InvalidInput(f"Could not parse metadata: {exc}", detail="; ".join(exc.problems)) from exc


def _no_such(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Manifest not found for arn {arn}")


def _load(env: OpEnv, action: str, arn: str, context: Mapping[str, list[str]] | None = None) -> SamlProviderRecord:
    env.authorize(action, arn, context)
    check_provider_arn(env, arn, "saml-provider")
    found = providers(env).get_saml(arn)
    if found is None:
        raise _no_such(arn)
    return found


def create_saml_provider(settings: ProviderSettings, env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    name = str(params["Name"])
    arn = env.arns.saml_provider(name)
    tags = new_tags(params)
    env.authorize("iam:CreateSAMLProvider", arn, tag_context(tags))
    _refuse_unsupported(params)
    metadata = parse_metadata_document(env, str(params["SAMLMetadataDocument"]))
    repo = providers(env)
    if repo.get_saml_by_name(name) is not None:
        raise EntityAlreadyExists(f"SAMLProvider {name} already exists.")
    if repo.count_saml() >= settings.max_saml_providers:
        raise LimitExceeded(f"Cannot exceed quota for SamlProvidersPerAccount: {settings.max_saml_providers}")
    record = repo.create_saml(
        arn,
        name,
        str(params["SAMLMetadataDocument"]),
        metadata.entity_id,
        metadata.signing_certificates_b64,
        metadata.valid_until,
        tags,
        env.call.now,
    )
    out: dict[str, Any] = {"SAMLProviderArn": record.arn}
    if record.tags:
        out["Tags"] = tags_shape(record.tags)
    return out


def get_saml_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:GetSAMLProvider", str(params["SAMLProviderArn"]))
    out: dict[str, Any] = {"SAMLMetadataDocument": record.metadata_document, "CreateDate": record.created_at}
    if record.valid_until is not None:
        out["ValidUntil"] = record.valid_until
    if record.tags:
        out["Tags"] = tags_shape(record.tags)
    return out


def list_saml_providers(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("iam:ListSAMLProviders", env.arns.iam("saml-provider/*"))
    items: list[dict[str, Any]] = []
    for record in providers(env).list_saml():
        item: dict[str, Any] = {"Arn": record.arn, "CreateDate": record.created_at}
        if record.valid_until is not None:
            item["ValidUntil"] = record.valid_until
        items.append(item)
    return {"SAMLProviderList": items}


def update_saml_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:UpdateSAMLProvider", str(params["SAMLProviderArn"]))
    _refuse_unsupported(params)
    document = params.get("SAMLMetadataDocument")
    if document is not None:
        metadata = parse_metadata_document(env, str(document))
        providers(env).update_saml_metadata(
            record.arn,
            str(document),
            metadata.entity_id,
            metadata.signing_certificates_b64,
            metadata.valid_until,
            env.call.now,
        )
    return {"SAMLProviderArn": record.arn}


def delete_saml_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:DeleteSAMLProvider", str(params["SAMLProviderArn"]))
    providers(env).delete_saml(record.arn)
    return {}


def tag_saml_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    incoming = list(params.get("Tags") or [])
    context = tag_context([(str(t["Key"]), str(t.get("Value", ""))) for t in incoming])
    record = _load(env, "iam:TagSAMLProvider", str(params["SAMLProviderArn"]), context)
    providers(env).set_saml_tags(record.arn, merge_tags(record.tags, incoming))
    return {}


def untag_saml_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    keys = [str(k) for k in params.get("TagKeys") or []]
    context = {"aws:TagKeys": keys} if keys else None
    record = _load(env, "iam:UntagSAMLProvider", str(params["SAMLProviderArn"]), context)
    providers(env).set_saml_tags(record.arn, untag(record.tags, keys))
    return {}


def list_saml_provider_tags(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:ListSAMLProviderTags", str(params["SAMLProviderArn"]))
    return list_tags_page(record.tags, params)
