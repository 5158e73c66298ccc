"""ID-token claims as IAM condition keys.

AWS names OIDC keys ``<issuer without https://, path kept>:<claim>`` ("Available keys for AWS OIDC
federation", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif)
and exposes ``aud``, ``sub``, ``amr`` (plus, since 2025, a fixed per-IdP set). broker exposes **every**
scalar or list claim, as Ceph RGW and MinIO do (a superset; docs/compatibility.md):

- the prefix keeps a port (SPEC.md §2): ``idp.example:8443/realms/x:sub``; an ``http://`` issuer
  (``BROKER_ALLOW_HTTP_ISSUERS``) drops its scheme the same way;
- ``PREFIX:aud`` is the client id that matched (single-valued, as AWS documents for ``:aud``); the
  token's own ``aud`` (string or list) is ``PREFIX:oaud``, AWS's name for Google's original audience;
- a string, number or boolean claim is a single-valued key; a list of scalars is a multivalued key, for
  ``ForAnyValue:``/``ForAllValues:`` (``PREFIX:amr``, ``PREFIX:groups``);
- **nested claims** use a JSON-pointer-like path: object members are joined with ``/`` and a ``/`` or
  ``~`` inside a member name is written ``~1`` / ``~0`` (RFC 6901 §3). Kubernetes' ``kubernetes.io``
  claim gives ``PREFIX:kubernetes.io/namespace`` and ``PREFIX:kubernetes.io/serviceaccount/name``;
  a top-level claim named ``https://example.com/x`` is ``PREFIX:https:~1~1example.com~1x``;
- objects inside lists, ``null`` values and members deeper than :data:`MAX_DEPTH` are skipped; at most
  :data:`MAX_KEYS` keys per token (the rest are dropped, in claim order);
- numbers print as JSON does (``1700000000``), booleans as ``true``/``false`` (the ``Bool`` operator's
  spelling).

Key names are case-insensitive in conditions (the policy engine lower-cases them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_KEYS", "claim_path", "context_keys", "key_prefix"]

MAX_DEPTH = 4
MAX_KEYS = 256
_SKIP = frozenset({"https://aws.amazon.com/tags"})  # session tags: read by the service, not a condition key


def key_prefix(issuer: str) -> str:
    """``https://token.actions.githubusercontent.com`` → ``token.actions.githubusercontent.com``."""
    for scheme in ("https://", "http://"):
        if issuer.startswith(scheme):
            return issuer[len(scheme):]
    return issuer


def claim_path(*members: str) -> str:
    """The documented path for a nested claim: ``claim_path("kubernetes.io", "namespace")``."""
    return "/".join(_escape(m) for m in members)


def _escape(member: str) -> str:
    if "~" in member or "/" in member:
        return member.replace("~", "~0").replace("/", "~1")
    return member


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


def _walk(path: tuple[str, ...], value: Any) -> Iterator[tuple[str, str | list[str]]]:
    if isinstance(value, dict):
        if len(path) >= MAX_DEPTH:
            return
        for name, member in value.items():
            yield from _walk((*path, str(name)), member)
        return
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        if all(i is not None for i in items):
            yield claim_path(*path), [i for i in items if i is not None]
        return
    scalar = _scalar(value)
    if scalar is not None:
        yield claim_path(*path), scalar


def context_keys(prefix: str, claims: Mapping[str, Any], audience: str) -> dict[str, str | list[str]]:
    """Condition keys for ``claims`` under ``prefix``; ``audience`` is the client id that matched."""
    out: dict[str, str | list[str]] = {}
    for name, value in claims.items():
        if name in _SKIP:
            continue
        if name != "aud" and (type(value) is str or type(value) is int):  # the usual claims: no walk, same keys
            if len(out) < MAX_KEYS:  # str(int) is what json.dumps writes for an int
                out[f"{prefix}:{_escape(str(name))}"] = value if type(value) is str else str(value)
            continue
        for path, item in _walk((str(name),), value):
            if len(out) >= MAX_KEYS:
                break
            key = f"{prefix}:{path}"
            if path == "aud":
                out[f"{prefix}:oaud"] = item
                continue
            out[key] = item
    out[f"{prefix}:aud"] = audience
    return out
