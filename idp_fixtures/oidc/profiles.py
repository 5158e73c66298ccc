"""Claim shapes of real issuers, for minting realistic fixture tokens.

Shapes from each issuer's documentation:
- GitHub Actions: "About security hardening with OpenID Connect", "Understanding the OIDC token"
  https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
- GitLab CI: "OpenID Connect (OIDC) Authentication Using ID Tokens", "Token payload"
  https://docs.gitlab.com/ee/ci/secrets/id_token_authentication.html
- Kubernetes: service account token volume projection (``kubernetes.io`` claim)
  https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/
- Google: "Validating an ID token" https://developers.google.com/identity/openid-connect/openid-connect
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROFILES", "claims_for"]


def github(sub: str | None = None) -> dict[str, Any]:
    return {
        "sub": sub or "repo:octo-org/octo-repo:ref:refs/heads/main",
        "repository": "octo-org/octo-repo",
        "repository_id": "74",
        "repository_owner": "octo-org",
        "repository_owner_id": "65",
        "repository_visibility": "private",
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "sha": "example-sha",
        "workflow": "deploy",
        "job_workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
        "actor": "octocat",
        "actor_id": "12",
        "event_name": "push",
        "run_id": "example-run-id",
        "run_number": "10",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "environment": "prod",
    }


def gitlab(sub: str | None = None) -> dict[str, Any]:
    return {
        "sub": sub or "project_path:mygroup/myproject:ref_type:branch:ref:main",
        "namespace_id": "72",
        "namespace_path": "mygroup",
        "project_id": "20",
        "project_path": "mygroup/myproject",
        "user_id": "1",
        "user_login": "sample-user",
        "pipeline_id": "574",
        "pipeline_source": "push",
        "job_id": "302",
        "ref": "main",
        "ref_type": "branch",
        "ref_path": "refs/heads/main",
        "ref_protected": "true",
        "environment": "production",
        "environment_protected": "true",
    }


def kubernetes(sub: str | None = None) -> dict[str, Any]:
    return {
        "sub": sub or "system:serviceaccount:payments:deployer",
        "kubernetes.io": {
            "namespace": "payments",
            "serviceaccount": {"name": "deployer", "uid": "2f1a2a9e-0000-4000-8000-000000000001"},
            "pod": {"name": "deployer-7d9c", "uid": "2f1a2a9e-0000-4000-8000-000000000002"},
        },
    }


def google(sub: str | None = None) -> dict[str, Any]:
    return {
        "sub": sub or "110169484474386276334",
        "azp": "1234987819200.apps.googleusercontent.com",
        "email": "alice@example.com",
        "email_verified": True,
        "hd": "example.com",
    }


def spiffe(sub: str | None = None) -> dict[str, Any]:
    return {"sub": sub or "spiffe://example.org/ns/payments/sa/deployer"}


PROFILES = {"github": github, "gitlab": gitlab, "kubernetes": kubernetes, "google": google, "spiffe": spiffe}


def claims_for(profile: str, sub: str | None = None) -> dict[str, Any]:
    """Profile claims (without ``iss``/``aud``/times, which the IdP adds)."""
    try:
        return PROFILES[profile](sub)
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}") from None
