"""Shared-issuer presets: trust policies that do not pin the workload are flagged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.federation.oidc.profiles import lint_trust, preset_for_prefix

GH = "token.actions.githubusercontent.com"


def _doc(prefix: str, condition: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{prefix}"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]})


@pytest.mark.parametrize(
    ("prefix", "name"),
    [(GH, "github"), (f"{GH}/my-enterprise", "github"), ("gitlab.com", "gitlab"),
     ("oidc.eks.eu-west-1.amazonaws.com/id/ABC123", "kubernetes"), ("idp.example", None)],
)
def test_presets_by_issuer(prefix: str, name: str | None) -> None:
    preset = preset_for_prefix(prefix)
    assert (preset.name if preset else None) == name


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}},
        {"StringLike": {f"{GH}:sub": "*"}},
        {"StringLike": {f"{GH}:sub": "repo:*"}},
        {"StringNotEquals": {f"{GH}:sub": "repo:x/y:ref:main"}},
        {"StringLikeIfExists": {f"{GH}:sub": "repo:octo-org/app:*"}},
        None,
    ],
)
def test_unpinned_github_trust_is_flagged(condition: Any) -> None:
    [finding] = lint_trust(_doc(GH, condition))
    assert (finding.severity, finding.code, finding.pointer) == ("error", "OIDC_UNPINNED_SHARED_ISSUER", "/Statement/0")
    assert "docs/oidc/github-actions.md" in finding.message


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {f"{GH}:sub": "repo:octo-org/octo-repo:*"}},
        {"StringEquals": {f"{GH}:repository_id": "74"}},
        {"ForAnyValue:StringEquals": {f"{GH}:repository": ["octo-org/a", "octo-org/b"]}},
    ],
)
def test_pinned_github_trust_passes(condition: Any) -> None:
    assert lint_trust(_doc(GH, condition)) == []


def test_private_issuer_and_kubernetes_namespace_pin() -> None:
    assert lint_trust(_doc("idp.example", None)) == []
    eks = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert lint_trust(_doc(eks, {"StringEquals": {f"{eks}:kubernetes.io/namespace": "payments"}})) == []
    assert len(lint_trust(_doc(eks, {"StringEquals": {f"{eks}:aud": "sts.amazonaws.com"}}))) == 1
