"""Access-Analyzer-style findings for a policy document: ``lint(document, kind) -> list[Finding]``.

Modelled on IAM Access Analyzer policy checks ("IAM Access Analyzer policy check reference",
https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html), with its
severities: ``error`` (the document is invalid — every validation problem), ``security`` (grants more
than it appears to), ``warning`` (probably not what was meant), ``suggestion`` (style).

Checks (code — source):
- ``FORALLVALUES_WITH_ALLOW`` — "ForAllValues" is true when the key is missing or empty, so an Allow
  needs a ``Null`` guard ("Single-valued vs. multivalued context keys", ForAllValues);
- ``SET_OPERATOR_ON_SINGLE_VALUED_KEY`` — same page: "do not use ... with single-valued context keys";
- ``ALLOW_WITH_NOT_ACTION`` / ``ALLOW_WITH_NOT_RESOURCE`` — "NotAction" / "NotResource" pages: with Allow
  they grant everything not listed, including new services;
- ``WILDCARD_PRINCIPAL`` — "Principal" page, "AWS principals ... anonymous";
- ``FEDERATED_TRUST_WITHOUT_AUD`` / ``FEDERATED_TRUST_WITHOUT_SUB`` — "Creating a role for web identity
  or OIDC federation" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html):
  restrict ``<provider>:aud`` and ``<provider>:sub``; SAML: ``SAML:aud``;
- ``BROAD_STRING_LIKE`` — a ``StringLike`` value that is ``*`` alone, or a wildcard in a ``:sub`` key,
  matches more subjects than intended (any repository, branch or environment);
- ``UNKNOWN_GLOBAL_CONDITION_KEY`` — an ``aws:`` key that is not a global key ("AWS global condition
  context keys");
- ``FULL_ACCESS`` — Allow ``*`` on ``*`` without conditions; ``PASS_ROLE_WITH_STAR`` — Allow
  ``iam:PassRole`` on ``*`` ("Granting a user permissions to pass a role", security note);
- ``MISSING_VERSION`` — no ``Version`` (or 2008-10-17): policy variables are not substituted
  ("IAM JSON policy elements: Version").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from broker.policy.conditions.registry import parse_operator
from broker.policy.globalkeys import MULTIVALUED, is_known_global
from broker.policy.model import PolicyKind
from broker.policy.parse import child_pointer, parse_document
from broker.policy.validate import validate

__all__ = ["Finding", "Severity", "format_findings", "guess_kind", "lint"]

Severity = Literal["error", "security", "warning", "suggestion"]
_SEVERITY_ORDER = {"error": 0, "security": 1, "warning": 2, "suggestion": 3}
_OIDC_NAMES = re.compile(r"^(?:arn:[^:]+:iam::\d{12}:oidc-provider/)?(?P<host>[^:]+)$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding: severity, stable code, JSON pointer, message."""

    severity: Severity
    code: str
    pointer: str
    message: str


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class _Linter:
    def __init__(self, kind: PolicyKind) -> None:
        self.kind = kind
        self.findings: list[Finding] = []

    def add(self, severity: Severity, code: str, pointer: str, message: str) -> None:
        self.findings.append(Finding(severity, code, pointer, message))

    def document(self, doc: dict[str, Any]) -> None:
        if doc.get("Version") != "2012-10-17":
            self.add(
                "warning" if "Version" not in doc else "suggestion",
                "MISSING_VERSION",
                "/Version" if "Version" in doc else "",
                'Use "Version": "2012-10-17": under 2008-10-17 policy variables are not substituted.',
            )
        raw = doc.get("Statement")
        if isinstance(raw, dict):
            self.statement(raw, "/Statement")
        elif isinstance(raw, list):
            for index, statement in enumerate(raw):
                if isinstance(statement, dict):
                    self.statement(statement, child_pointer("/Statement", index))

    def statement(self, st: dict[str, Any], at: str) -> None:
        allow = st.get("Effect") == "Allow"
        conditions = st.get("Condition") if isinstance(st.get("Condition"), dict) else {}
        assert isinstance(conditions, dict)
        if allow and "NotAction" in st:
            self.add(
                "security",
                "ALLOW_WITH_NOT_ACTION",
                child_pointer(at, "NotAction"),
                "Allow with NotAction grants every action not listed, including actions added later.",
            )
        if allow and "NotResource" in st:
            self.add(
                "security",
                "ALLOW_WITH_NOT_RESOURCE",
                child_pointer(at, "NotResource"),
                "Allow with NotResource grants access to every resource not listed.",
            )
        actions = [a.lower() for a in _list(st.get("Action", [])) if isinstance(a, str)]
        resources = [r for r in _list(st.get("Resource", [])) if isinstance(r, str)]
        if allow and "*" in actions and "*" in resources and not conditions:
            self.add("security", "FULL_ACCESS", at, "The statement allows every action on every resource.")
        if allow and "*" in resources and any(a in ("iam:passrole", "iam:*", "iam:pass*") for a in actions):
            self.add(
                "security",
                "PASS_ROLE_WITH_STAR",
                child_pointer(at, "Resource"),
                'iam:PassRole on Resource "*" lets the caller pass any role to a service.',
            )
        principal = st.get("Principal")
        if allow and principal is not None:
            self.principal(principal, at, conditions, actions)
        self.conditions(conditions, child_pointer(at, "Condition"), allow)

    def principal(self, principal: Any, at: str, conditions: dict[str, Any], actions: list[str]) -> None:
        p_at = child_pointer(at, "Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        if principal == "*" or (aws is not None and "*" in _list(aws)):
            self.add(
                "security" if not conditions else "warning",
                "WILDCARD_PRINCIPAL",
                p_at,
                "The statement allows any principal"
                + (" (restricted only by its conditions)." if conditions else ", including anonymous callers."),
            )
        if not isinstance(principal, dict):
            return
        keys = {k.lower() for block in conditions.values() if isinstance(block, dict) for k in block}
        for provider in _list(principal.get("Federated", [])):
            if not isinstance(provider, str):
                continue
            if ":saml-provider/" in provider:
                if "saml:aud" not in keys:
                    self.add(
                        "security",
                        "FEDERATED_TRUST_WITHOUT_AUD",
                        p_at,
                        f"Trust in SAML provider {provider} should require SAML:aud (the sign-in URL).",
                    )
                continue
            match = _OIDC_NAMES.match(provider)
            if match is None:
                continue
            host = match.group("host").lower()
            if not any(k.startswith(f"{host}:") and k.endswith((":aud", ":azp", ":oaud")) for k in keys):
                self.add(
                    "security",
                    "FEDERATED_TRUST_WITHOUT_AUD",
                    p_at,
                    f"Trust in {host} should restrict {host}:aud to your client id.",
                )
            if not any(k == f"{host}:sub" for k in keys):
                self.add(
                    "security",
                    "FEDERATED_TRUST_WITHOUT_SUB",
                    p_at,
                    f"Trust in {host} should restrict {host}:sub, or any identity of the provider can assume the role.",
                )

    def conditions(self, conditions: dict[str, Any], at: str, allow: bool) -> None:
        null_false = set()
        for op_name, block in conditions.items():
            if op_name == "Null" and isinstance(block, dict):
                for key, value in block.items():
                    if "false" in [str(v).lower() for v in _list(value)]:
                        null_false.add(key.lower())
        for op_name, block in conditions.items():
            parsed = parse_operator(op_name)
            if parsed is None or not isinstance(block, dict):
                continue
            for key, value in block.items():
                k_at = child_pointer(child_pointer(at, op_name), key)
                lowered = key.lower()
                if lowered.startswith("aws:") and not is_known_global(key):
                    self.add(
                        "warning",
                        "UNKNOWN_GLOBAL_CONDITION_KEY",
                        k_at,
                        f"{key} is not an AWS global condition key; the request will never carry it.",
                    )
                if parsed.set_operator is not None and lowered.startswith("aws:") and is_known_global(key):
                    if lowered not in MULTIVALUED and not lowered.startswith("aws:requesttag/"):
                        self.add(
                            "warning",
                            "SET_OPERATOR_ON_SINGLE_VALUED_KEY",
                            k_at,
                            f"{parsed.set_operator} on the single-valued key {key} can be overly permissive.",
                        )
                if parsed.set_operator == "ForAllValues" and allow and lowered not in null_false:
                    self.add(
                        "security",
                        "FORALLVALUES_WITH_ALLOW",
                        k_at,
                        f"ForAllValues is true when {key} is missing or empty; add "
                        f'"Null": {{"{key}": "false"}} to this Allow.',
                    )
                if parsed.operator.name in ("StringLike", "StringNotLike") and allow:
                    for item in _list(value):
                        if not isinstance(item, str):
                            continue
                        if item == "*":
                            self.add(
                                "security",
                                "BROAD_STRING_LIKE",
                                k_at,
                                f'StringLike "*" matches any value of {key}; use Null to test presence.',
                            )
                        elif lowered.endswith(":sub") and "*" in item:
                            self.add(
                                "security",
                                "BROAD_STRING_LIKE",
                                k_at,
                                f'The wildcard in "{item}" matches more subjects than intended '
                                "(any repository, branch, environment or workflow).",
                            )


def lint(document: str, kind: PolicyKind) -> list[Finding]:
    """Findings for ``document``, most severe first; validation problems come back as ``error``."""
    findings = [Finding("error", "VALIDATION", p.pointer, p.message) for p in validate(document, kind)]
    parsed = parse_document(document)
    if parsed is not None and isinstance(parsed.value, dict):
        linter = _Linter(kind)
        linter.document(parsed.value)
        findings.extend(linter.findings)
    return sorted(findings, key=lambda f: _SEVERITY_ORDER[f.severity])


def format_findings(findings: list[Finding], *, source: str = "policy") -> str:
    """One line per finding for ``broker policy lint FILE``: ``FILE:POINTER: SEVERITY CODE: message``."""
    if not findings:
        return f"{source}: no findings"
    return "\n".join(f"{source}:{f.pointer or '/'}: {f.severity} {f.code}: {f.message}" for f in findings)


def guess_kind(document: str) -> PolicyKind:
    """The kind a standalone file most likely is, for ``broker policy lint FILE`` without ``--kind``:
    statements with a Principal and only ``sts:`` role actions are a trust policy, other statements with a
    Principal a resource policy, anything else an identity policy."""
    parsed = parse_document(document)
    doc = parsed.value if parsed is not None else None
    raw = doc.get("Statement") if isinstance(doc, dict) else None
    statements = (
        [raw] if isinstance(raw, dict) else [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
    )
    with_principal = [s for s in statements if "Principal" in s or "NotPrincipal" in s]
    if not with_principal:
        return "identity"
    actions = [str(a).lower() for s in with_principal for a in _list(s.get("Action", []))]
    if actions and all(a.startswith("sts:") for a in actions) and not any("Resource" in s for s in with_principal):
        return "trust"
    return "resource"
