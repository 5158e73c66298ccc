"""The ``Principal`` / ``NotPrincipal`` element: validation, compilation, and how a caller is named.

"AWS JSON policy elements: Principal"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html):
``"*"`` (everyone) or a map of ``AWS`` / ``Federated`` / ``Service`` / ``CanonicalUser`` to a string or a
list. ``AWS`` values are an account id or ``arn:…:iam::ACCOUNT:root`` (the account: its identity-based
policies must also allow), an IAM user or role ARN, a role session ARN
``arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`` or a federated-user ARN. No partial wildcards.

How the caller is named decides the same-account rule of "Policy evaluation logic", section
"Determining whether a request is allowed or denied within an account"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policies_resource.html):
a policy naming the user or session ARN directly grants on its own (``DIRECT``); one naming the role
ARN grants to its sessions but a boundary or session policy still limits it (``ROLE``); one naming the
account delegates to the account's identity-based policies (``ACCOUNT``). ``"*"`` is treated as
``ROLE`` (broker's fail-closed reading: it never bypasses a boundary or session policy).

``NotPrincipal`` ("AWS JSON policy elements: NotPrincipal",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html) excludes a
caller only when its exact ARN is listed (a role session must be listed by its session ARN); a matching
``NotPrincipal`` Allow counts as ``ACCOUNT``.
"""

from __future__ import annotations

import re
from typing import Any

from broker.policy.model import PrincipalRef, Problem
from broker.policy.parse import child_pointer

__all__ = ["ACCOUNT", "DIRECT", "NONE", "ROLE", "PrincipalMatcher", "check_principal"]

NONE, ACCOUNT, ROLE, DIRECT = 0, 1, 2, 3

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:[a-z0-9-]+:iam::(\d{12}):root$")
_AWS_ARN = re.compile(
    r"^arn:[a-z0-9-]+:(?:iam::\d{12}:(?:user|role)/[\w+=,.@/-]+|"
    r"sts::\d{12}:(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))$"
)
_UNIQUE_ID = re.compile(r"^A(?:IDA|ROA)[A-Z0-9]{12,}$")
_PROVIDER_ARN = re.compile(r"^arn:[a-z0-9-]+:iam::\d{12}:(?:oidc-provider|saml-provider)/\S+$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_TYPES = ("AWS", "Federated", "Service", "CanonicalUser")
INVALID = "Invalid principal in policy"
SYNTAX = "Syntax errors in policy."


def _valid(kind: str, value: str) -> bool:
    if kind == "AWS":
        return value == "*" or bool(
            _ACCOUNT_ID.match(value) or _ROOT.match(value) or _AWS_ARN.match(value) or _UNIQUE_ID.match(value)
        )
    if kind == "Federated":
        if value.startswith("arn:"):
            return bool(_PROVIDER_ARN.match(value))
        return bool(value) and "*" not in value and "?" not in value and not any(c.isspace() for c in value)
    if kind == "Service":
        return bool(_SERVICE.match(value))
    return bool(re.match(r"^[0-9a-fA-F]{64}$", value))


def check_principal(value: Any, pointer: str, problems: list[Problem]) -> dict[str, tuple[str, ...]] | None:
    """Validate a Principal/NotPrincipal value; a normalised ``{type: values}`` (``{"*": ("*",)}``)."""
    if value == "*":
        return {"*": ("*",)}
    if not isinstance(value, dict) or not value:
        problems.append(Problem(pointer, INVALID if isinstance(value, str) else SYNTAX))
        return None
    out: dict[str, tuple[str, ...]] = {}
    ok = True
    for kind, raw in value.items():
        at = child_pointer(pointer, kind)
        if kind not in _TYPES:
            problems.append(Problem(at, INVALID))
            ok = False
            continue
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
            problems.append(Problem(at, SYNTAX))
            ok = False
            continue
        for index, item in enumerate(items):
            if not _valid(kind, item):
                problems.append(Problem(at if isinstance(raw, str) else child_pointer(at, index), INVALID))
                ok = False
        out[kind] = tuple(items)
    return out if ok else None


class PrincipalMatcher:
    """Compiled Principal (or NotPrincipal) element; ``level(ref)`` says how it names the caller."""

    __slots__ = ("_accounts", "_aws", "_aws_any", "_everyone", "_negated", "_others")

    def __init__(self, spec: dict[str, tuple[str, ...]], *, negated: bool = False) -> None:
        self._negated = negated
        self._everyone = "*" in spec
        aws = spec.get("AWS", ())
        self._aws_any = "*" in aws
        self._aws = frozenset(v for v in aws if v != "*" and not _ACCOUNT_ID.match(v))
        accounts = {v for v in aws if _ACCOUNT_ID.match(v)}
        for v in aws:
            root = _ROOT.match(v)
            if root:
                accounts.add(root.group(1))
        self._accounts = frozenset(accounts)
        self._others = {kind: frozenset(spec.get(kind, ())) for kind in ("Federated", "Service", "CanonicalUser")}

    def _named(self, ref: PrincipalRef) -> int:
        if self._everyone:
            return ROLE
        if ref.type == "AWS":
            if ref.arn in self._aws:
                return DIRECT
            if self._aws_any or (ref.role_arn is not None and ref.role_arn in self._aws):
                return ROLE
            if ref.account is not None and ref.account in self._accounts:
                return ACCOUNT
            return NONE
        names = self._others.get(ref.type)
        return DIRECT if names is not None and ref.arn in names else NONE

    def level(self, ref: PrincipalRef | None) -> int:
        """``NONE``/``ACCOUNT``/``ROLE``/``DIRECT`` for ``ref`` (``NONE`` when no caller is given)."""
        if ref is None:
            return NONE
        if not self._negated:
            return self._named(ref)
        if self._everyone:
            return NONE
        excluded = ref.arn in self._aws or ref.arn in self._others.get(ref.type, frozenset())
        return NONE if excluded else ACCOUNT
