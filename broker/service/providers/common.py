"""Shared plumbing of the provider operations: settings, ARN checks, tags.

Tag rules are the IAM ones (``broker.service.iam.validation.check_tags``: "Tagging IAM resources",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules_creating): keys are
case-insensitively unique, so tagging with a key that differs only in case replaces the existing tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker.arn import parse_arn
from broker.errors import InvalidInput
from broker.service.env import OpEnv
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import check_tags, tag_context

if TYPE_CHECKING:
    from broker.store.sqlalchemy.repositories.providers import ProviderRepository

__all__ = [
    "ProviderSettings",
    "check_provider_arn",
    "list_tags_page",
    "merge_tags",
    "providers",
    "tag_context",
    "tags_shape",
    "untag",
]

Tag = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What the provider operations take from configuration (built by the app from ``Settings``).

    ``allow_http_issuers`` mirrors ``BROKER_ALLOW_HTTP_ISSUERS`` (SPEC.md §1): ``http://`` OIDC issuer
    URLs are accepted only when it is set (local testing only).
    """

    allow_http_issuers: bool = False
    max_oidc_providers: int = 100
    max_saml_providers: int = 100
    """IAM quotas "OIDC providers per account" and "SAML providers per account"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entities)."""


def providers(env: OpEnv) -> ProviderRepository:
    repo: ProviderRepository = env.tx.providers
    return repo


def check_provider_arn(env: OpEnv, arn: str, resource_type: str) -> None:
    """Refuse an ARN that is not a ``resource_type`` ARN of this account and partition."""
    try:
        parsed = parse_arn(arn)
    except ValueError as exc:
        raise InvalidInput(f"ARN {arn} is not valid.") from exc
    if (
        parsed.service != "iam"
        or parsed.partition != env.arns.partition
        or parsed.account != env.arns.account
        or parsed.resource_type != resource_type
        or parsed.region
    ):
        raise InvalidInput(f"ARN {arn} is not valid.", detail=f"not an {resource_type} ARN of this account")


def tags_shape(tags: Sequence[Tag]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def new_tags(params: Mapping[str, Any]) -> list[Tag]:
    return check_tags(list(params.get("Tags") or []))


def merge_tags(existing: Sequence[Tag], incoming: Sequence[Mapping[str, Any]]) -> list[Tag]:
    """``existing`` with ``incoming`` applied: a key equal ignoring case replaces the old tag in place."""
    pairs = check_tags(list(incoming), existing)
    out = list(existing)
    for key, value in pairs:
        for i, (old, _) in enumerate(out):
            if old.lower() == key.lower():
                out[i] = (key, value)
                break
        else:
            out.append((key, value))
    return out


def untag(existing: Sequence[Tag], keys: Sequence[str]) -> list[Tag]:
    """``existing`` without ``keys`` (case-insensitive); unknown keys are ignored, as IAM does."""
    drop = {k.lower() for k in keys}
    return [(k, v) for k, v in existing if k.lower() not in drop]


def list_tags_page(tags: Sequence[Tag], params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ListXTags`` output: tags ordered by key, paginated with ``Marker``/``MaxItems``."""
    ordered = sorted(tags, key=lambda t: t[0])
    page, more = paginate(ordered, lambda t: t[0], params)
    return {"Tags": tags_shape(page), **more}
