"""Presets for shared CI/workload issuers and the lint rule that keeps their trust policies pinned.

A shared issuer signs tokens for *everyone* on the platform: a trust policy that admits
``token.actions.githubusercontent.com`` without pinning the repository admits every GitHub repository in
the world. AWS now refuses such policies for recognised shared IdPs ("Identity-provider controls for shared
OIDC providers", IAM User Guide, https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc_secure-by-default.html).
broker's rule (:func:`lint_trust`): each ``Allow`` statement for ``sts:AssumeRoleWithWebIdentity`` whose
``Federated`` principal is a preset's issuer must have a positive string condition (``StringEquals``,
``StringLike``, or their ``ForAnyValue:`` forms) on one of the preset's **pin keys** with no value that
is only wildcards or a bare prefix (``repo:*``, ``*``). Otherwise the finding ``OIDC_UNPINNED_SHARED_ISSUER``.

Claims documented by each platform:
- GitHub Actions: https://docs.github.com/en/actions/reference/security/oidc (``sub`` ``repo:OWNER/REPO:…``;
  immutable ``repository_id``, ``repository_owner_id``);
- GitLab CI: https://docs.gitlab.com/ci/secrets/id_token_authentication/ (``sub``
  ``project_path:GROUP/PROJECT:ref_type:…``; ``project_id``, ``namespace_id``);
- Kubernetes service accounts: https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/
  (``sub`` ``system:serviceaccount:NS:NAME``; nested ``kubernetes.io`` claim);
- SPIFFE JWT-SVID: https://github.com/spiffe/spiffe/blob/main/standards/JWT-SVID.md (``sub`` is the SPIFFE ID).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from broker.policy import Finding

__all__ = ["PRESETS", "Preset", "lint_trust", "preset_for_prefix"]


@dataclass(frozen=True)
class Preset:
    name: str
    hosts: tuple[str, ...]
    """Key prefixes (issuer without scheme) or regular expressions over them that identify the issuer."""
    pin_keys: tuple[str, ...]
    """Claims that pin the workload (relative to the key prefix)."""
    audience: str
    example_sub: str
    guide: str


PRESETS: dict[str, Preset] = {
    "github": Preset(
        "github", (r"token\.actions\.githubusercontent\.com(/[^/]+)?",),
        ("sub", "repository", "repository_id", "repository_owner_id", "job_workflow_ref"),
        "sts.amazonaws.com", "repo:octo-org/octo-repo:ref:refs/heads/main", "docs/oidc/github-actions.md",
    ),
    "gitlab": Preset(
        "gitlab", (r"gitlab\.com",),
        ("sub", "project_path", "project_id", "namespace_id", "namespace_path"),
        "https://gitlab.com", "project_path:mygroup/myproject:ref_type:branch:ref:main", "docs/oidc/gitlab-ci.md",
    ),
    "kubernetes": Preset(
        "kubernetes", (r"oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/[A-Za-z0-9]+", r"kubernetes\.default\.svc(:\d+)?"),
        ("sub", "kubernetes.io/namespace", "kubernetes.io/serviceaccount/name", "kubernetes.io/serviceaccount/uid"),
        "sts.amazonaws.com", "system:serviceaccount:payments:deployer", "docs/oidc/kubernetes.md",
    ),
    "spiffe": Preset(
        "spiffe", (r"spire[.-][^/]*", r"oidc-discovery\.[^/]+"),
        ("sub",),
        "sts.amazonaws.com", "spiffe://example.org/ns/payments/sa/deployer", "docs/oidc/spiffe.md",
    ),
}

_POSITIVE = re.compile(r"^(ForAnyValue:)?(StringEquals|StringLike)(IfExists)?$", re.IGNORECASE)
_TOO_BROAD = re.compile(r"^[^*?]{0,12}:?[*?]+$")  # "*", "repo:*", "project_path:*"


def preset_for_prefix(prefix: str) -> Preset | None:
    """The preset whose issuer is ``prefix`` (an issuer URL without its scheme)."""
    for preset in PRESETS.values():
        if any(re.fullmatch(h, prefix) for h in preset.hosts):
            return preset
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pinned(condition: Any, prefix: str, preset: Preset) -> bool:
    if not isinstance(condition, dict):
        return False
    wanted = {f"{prefix}:{k}".lower() for k in preset.pin_keys}
    for operator, clauses in condition.items():
        if not _POSITIVE.match(str(operator)) or str(operator).lower().endswith("ifexists"):
            continue
        for key, values in clauses.items() if isinstance(clauses, dict) else ():
            vals = [str(v) for v in _list(values)]
            if str(key).lower() in wanted and vals and not any(_TOO_BROAD.match(v) for v in vals):
                return True
    return False


def lint_trust(document: str) -> list[Finding]:
    """``OIDC_UNPINNED_SHARED_ISSUER`` findings for ``document`` (a role trust policy)."""
    try:
        data = json.loads(document)
    except ValueError:
        return []
    statements = _list(data.get("Statement", [])) if isinstance(data, dict) else []
    findings: list[Finding] = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = [str(a).lower() for a in _list(statement.get("Action", []))]
        if not any(a in ("sts:assumerolewithwebidentity", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        federated = _list(principal.get("Federated", [])) if isinstance(principal, dict) else []
        for arn in federated:
            prefix = str(arn).split(":oidc-provider/", 1)[1] if ":oidc-provider/" in str(arn) else ""
            preset = preset_for_prefix(prefix)
            if preset is None or _pinned(statement.get("Condition"), prefix, preset):
                continue
            keys = ", ".join(f"{prefix}:{k}" for k in preset.pin_keys)
            findings.append(Finding(
                "error", "OIDC_UNPINNED_SHARED_ISSUER", f"/Statement/{index}",
                f"{preset.name} tokens come from a shared issuer: pin the workload with StringEquals or "
                f"StringLike on one of {keys} (see {preset.guide})",
            ))
    return findings
