"""The tag condition keys of a role-assumption request, shared by AssumeRole, web identity and SAML.

IAM User Guide, "Passing session tags in AWS STS"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html): the role's tags are visible as
``aws:ResourceTag/k``, with session tags replacing the role's tag of the same key (compared case-insensitively);
the tags the request passes are ``aws:RequestTag/k`` and their keys ``aws:TagKeys``; ``sts:TransitiveTagKeys``
lists the transitive ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_tag_context"]


def add_tag_context(
    ctx: dict[str, Any],
    *,
    role_tags: Mapping[str, str],
    session_tags: Sequence[tuple[str, str]],
    request_tags: Sequence[tuple[str, str]],
    transitive_keys: Sequence[str],
) -> dict[str, Any]:
    """Add the tag keys to ``ctx`` and return it.

    ``session_tags`` are every tag the new session will carry (for a chained AssumeRole, inherited transitive tags
    too); ``request_tags`` only those this request passes.
    """
    resource_tags = dict(role_tags)
    for key, value in session_tags:
        for existing in [k for k in resource_tags if k.lower() == key.lower()]:
            del resource_tags[existing]
        resource_tags[key] = value
    for key, value in resource_tags.items():
        ctx[f"aws:ResourceTag/{key}"] = value
    for key, value in request_tags:
        ctx[f"aws:RequestTag/{key}"] = value
    if request_tags:
        ctx["aws:TagKeys"] = [k for k, _ in request_tags]
    if transitive_keys:
        ctx["sts:TransitiveTagKeys"] = list(transitive_keys)
    return ctx
