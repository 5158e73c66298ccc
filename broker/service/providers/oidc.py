"""IAM OIDC identity providers: Create/Get/List/Delete, client ids, thumbprints, tags.

AWS rules (IAM API Reference, CreateOpenIDConnectProvider, "Request Parameters",
https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html): ``Url`` must
begin with ``https://``, is case-sensitive, may have a path but no query; at most 100 client ids of 1-255
characters; at most 5 thumbprints, each the 40-hex-digit SHA-1 fingerprint; the same URL cannot be
registered twice (``EntityAlreadyExists``). The ARN is ``arn:…:oidc-provider/`` + the URL without its
scheme.

Deliberate differences (SPEC.md §2, ``docs/compatibility.md``): the URL may carry a port, kept in the ARN
(``oidc-provider/idp.example:8443/realms/x``); ``http://`` is accepted only with
``ProviderSettings.allow_http_issuers``. The URL is stored exactly as given, because a token's ``iss``
must equal it byte for byte (path, port and case included).

``GetOpenIDConnectProvider`` returns ``Url`` without ``https://``, as AWS does; an ``http://`` issuer is
returned with its scheme so the two cannot be confused.

Pinned JWKS (SPEC.md §2, a broker extension with no AWS counterpart; root only, through
``broker oidc-provider pin-jwks``): ``PutOpenIDConnectProviderJwks`` registers a JWK Set as the provider's
keys, which are then never fetched (issuers without reachable discovery: air-gapped IdPs, Kubernetes clusters);
``DeleteOpenIDConnectProviderJwks`` returns the provider to fetching. ``DescribeOpenIDConnectProviderKeys``
shows the provider with its thumbprints and the pinned key ids. The document is validated as a whole
(``federation.oidc.keys.check_pinned_jwks``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from broker.errors import InvalidInput, LimitExceeded, NoSuchEntity
from broker.federation.oidc.fetch import MAX_BYTES
from broker.federation.oidc.keys import check_pinned_jwks
from broker.service.env import OpEnv, OpFunc
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
    from broker.store.sqlalchemy.repositories.providers import OidcProviderRecord

__all__ = [
    "MAX_CLIENT_IDS",
    "MAX_THUMBPRINTS",
    "PINNED_JWKS_OPERATIONS",
    "add_client_id_to_open_id_connect_provider",
    "check_issuer_url",
    "create_open_id_connect_provider",
    "delete_open_id_connect_provider",
    "get_open_id_connect_provider",
    "list_open_id_connect_provider_tags",
    "list_open_id_connect_providers",
    "remove_client_id_from_open_id_connect_provider",
    "tag_open_id_connect_provider",
    "untag_open_id_connect_provider",
    "update_open_id_connect_provider_thumbprint",
]

MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def _strip_scheme(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


def arn_for(env: OpEnv, url: str) -> str:
    return env.arns.oidc_provider(_strip_scheme(url))


def check_issuer_url(url: str, *, allow_http: bool) -> None:
    """Raise ``InvalidInput`` listing every reason ``url`` cannot be an issuer URL."""
    problems: list[str] = []
    if url.startswith("http://") and not allow_http:
        problems.append("The URL must begin with https:// (http:// issuers need BROKER_ALLOW_HTTP_ISSUERS=1)")
    elif not (url.startswith("https://") or url.startswith("http://")):
        problems.append("The URL must begin with https://")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("The URL is not a valid URL.", detail=f"urlsplit refused {url!r}") from None
    if parts.query or url.endswith("?"):
        problems.append("The URL must not contain a query string")
    if parts.fragment or "#" in url:
        problems.append("The URL must not contain a fragment")
    if "@" in parts.netloc:
        problems.append("The URL must not contain user information")
    host = parts.hostname or ""
    if not _HOST.fullmatch(host):
        problems.append("The URL must name a host")
    if port is not None and not 1 <= port <= 65535:
        problems.append("The URL port must be between 1 and 65535")
    if any(c.isspace() for c in url):
        problems.append("The URL must not contain whitespace")
    if problems:
        raise InvalidInput("; ".join(problems) + ".", detail=f"issuer URL {url!r}")


def _check_thumbprints(values: list[str]) -> None:
    if len(values) > MAX_THUMBPRINTS:
        raise InvalidInput(f"Thumbprint list must contain at most {MAX_THUMBPRINTS} thumbprints.")
    bad = [v for v in values if not _HEX40.fullmatch(v)]
    if bad:
        raise InvalidInput("Thumbprints must be 40 hexadecimal characters.", detail=f"bad thumbprints {bad!r}")


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _no_such(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")


def _load(
    env: OpEnv, action: str, params: Mapping[str, Any], context: Mapping[str, list[str]] | None = None
) -> OidcProviderRecord:
    """Authorize ``action`` on the ARN, then return the provider (``NoSuchEntity`` if missing)."""
    arn = str(params["OpenIDConnectProviderArn"])
    env.authorize(action, arn, context)
    check_provider_arn(env, arn, "oidc-provider")
    found = providers(env).get_oidc(arn)
    if found is None:
        raise _no_such(arn)
    return found


def _url_shape(url: str) -> str:
    return url[len("https://") :] if url.startswith("https://") else url


def create_open_id_connect_provider(
    settings: ProviderSettings, env: OpEnv, params: Mapping[str, Any]
) -> dict[str, Any]:
    url = str(params["Url"])
    arn = arn_for(env, url)
    tags = new_tags(params)
    env.authorize("iam:CreateOpenIDConnectProvider", arn, tag_context(tags))
    for unsupported in ("ContextProvider", "IdentityCenterInstanceArn"):
        if unsupported in params:
            raise InvalidInput(f"{unsupported} is not supported by this broker.")
    check_issuer_url(url, allow_http=settings.allow_http_issuers)
    client_ids = _dedupe([str(c) for c in params.get("ClientIDList") or []])
    if len(client_ids) > MAX_CLIENT_IDS:
        raise LimitExceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
    thumbprints = _dedupe([str(t) for t in params.get("ThumbprintList") or []])
    _check_thumbprints(thumbprints)
    repo = providers(env)
    if repo.count_oidc() >= settings.max_oidc_providers:
        raise LimitExceeded(f"Cannot exceed quota for OpenIdConnectProvidersPerAccount: {settings.max_oidc_providers}")
    record = repo.create_oidc(arn, url, client_ids, thumbprints, tags, env.call.now)
    out: dict[str, Any] = {"OpenIDConnectProviderArn": record.arn}
    if record.tags:
        out["Tags"] = tags_shape(record.tags)
    return out


def get_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:GetOpenIDConnectProvider", params)
    out: dict[str, Any] = {
        "Url": _url_shape(record.url),
        "ClientIDList": list(record.client_ids),
        "ThumbprintList": list(record.thumbprints),
        "CreateDate": record.created_at,
    }
    if record.tags:
        out["Tags"] = tags_shape(record.tags)
    return out


def list_open_id_connect_providers(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("iam:ListOpenIDConnectProviders", env.arns.iam("oidc-provider/*"))
    return {"OpenIDConnectProviderList": [{"Arn": r.arn} for r in providers(env).list_oidc()]}


def delete_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:DeleteOpenIDConnectProvider", params)
    providers(env).delete_oidc(record.arn)
    return {}


def add_client_id_to_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Idempotent: adding a client id that is already registered changes nothing."""
    record = _load(env, "iam:AddClientIDToOpenIDConnectProvider", params)
    client_id = str(params["ClientID"])
    if client_id in record.client_ids:
        return {}
    if len(record.client_ids) >= MAX_CLIENT_IDS:
        raise LimitExceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
    providers(env).update_oidc(record.arn, client_ids=[*record.client_ids, client_id])
    return {}


def remove_client_id_from_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Idempotent: removing a client id that is not registered is not an error (AWS API reference)."""
    record = _load(env, "iam:RemoveClientIDFromOpenIDConnectProvider", params)
    client_id = str(params["ClientID"])
    if client_id in record.client_ids:
        providers(env).update_oidc(record.arn, client_ids=[c for c in record.client_ids if c != client_id])
    return {}


def update_open_id_connect_provider_thumbprint(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Replaces the whole list."""
    record = _load(env, "iam:UpdateOpenIDConnectProviderThumbprint", params)
    thumbprints = _dedupe([str(t) for t in params.get("ThumbprintList") or []])
    _check_thumbprints(thumbprints)
    providers(env).update_oidc(record.arn, thumbprints=thumbprints)
    return {}


def tag_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    incoming = list(params.get("Tags") or [])
    context = tag_context([(str(t["Key"]), str(t.get("Value", ""))) for t in incoming])
    record = _load(env, "iam:TagOpenIDConnectProvider", params, context)
    providers(env).update_oidc(record.arn, tags=merge_tags(record.tags, incoming))
    return {}


def untag_open_id_connect_provider(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    keys = [str(k) for k in params.get("TagKeys") or []]
    record = _load(env, "iam:UntagOpenIDConnectProvider", params, {"aws:TagKeys": keys} if keys else None)
    providers(env).update_oidc(record.arn, tags=untag(record.tags, keys))
    return {}


def list_open_id_connect_provider_tags(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:ListOpenIDConnectProviderTags", params)
    return list_tags_page(record.tags, params)


def put_open_id_connect_provider_jwks(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Pin ``Jwks`` (a JWK Set document, JSON text) as the provider's keys; replaces any pinned before."""
    record = _load(env, "iam:PutOpenIDConnectProviderJwks", params)
    text = params.get("Jwks")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Jwks is required: a JWK Set document (JSON).")
    try:
        document = check_pinned_jwks(text, max_bytes=MAX_BYTES)
    except ValueError as exc:
        raise InvalidInput(f"The JWK Set cannot be pinned: {exc}.", detail=f"provider {record.arn}") from None
    providers(env).update_oidc(record.arn, pinned_jwks=document)
    return _described(record.arn, record.url, record.thumbprints, document)


def delete_open_id_connect_provider_jwks(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Unpin: the provider's keys are fetched from its issuer again. Idempotent."""
    record = _load(env, "iam:DeleteOpenIDConnectProviderJwks", params)
    if record.pinned_jwks is not None:
        providers(env).update_oidc(record.arn, pinned_jwks=None)
    return _described(record.arn, record.url, record.thumbprints, None)


def describe_open_id_connect_provider_keys(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    record = _load(env, "iam:GetOpenIDConnectProvider", params)
    return _described(record.arn, record.url, record.thumbprints, record.pinned_jwks)


def _described(arn: str, url: str, thumbprints: tuple[str, ...], pinned: str | None) -> dict[str, Any]:
    kids = [str(k.get("kid")) for k in json.loads(pinned)["keys"]] if pinned is not None else None
    return {"OpenIDConnectProviderArn": arn, "Url": url, "ThumbprintList": list(thumbprints),
            "KeySource": "pinned" if pinned is not None else "fetched", "PinnedKeyIds": kids}


PINNED_JWKS_OPERATIONS: dict[str, OpFunc] = {
    "PutOpenIDConnectProviderJwks": put_open_id_connect_provider_jwks,
    "DeleteOpenIDConnectProviderJwks": delete_open_id_connect_provider_jwks,
    "DescribeOpenIDConnectProviderKeys": describe_open_id_connect_provider_keys,
}
"""The broker-only operations of pinned JWKS, run by ``broker oidc-provider`` as root (not on the Query API)."""
