"""Every Query-API operation broker implements, by action name."""

from __future__ import annotations

from typing import Any

from broker.service.env import OpFunc

__all__ = ["all_operations"]


def all_operations(
    *, allow_http_issuers: bool = False, keyring: Any = None, web_identity: Any = None, saml: Any = None,
    refuse_unpinned_trust: bool = False,
) -> dict[str, OpFunc]:
    """Every operation; the STS table needs the keyring service (``broker.service.keyring``).

    ``refuse_unpinned_trust`` (``BROKER_REFUSE_UNPINNED_TRUST``) binds CreateRole/UpdateAssumeRolePolicy's
    shared-OIDC-issuer pinning lint: refuse, or (default) accept and note the findings in the audit event.
    """
    from broker.service.iam import OPERATIONS as IAM
    from broker.service.iam.roles import trust_lint_operations
    from broker.service.mfa import OPERATIONS as MFA
    from broker.service.providers import ProviderSettings, make_operations
    from broker.service.simulator import OPERATIONS as SIMULATOR

    providers = make_operations(ProviderSettings(allow_http_issuers=allow_http_issuers))
    iam = {**IAM, **trust_lint_operations(refuse_unpinned=refuse_unpinned_trust)}
    merged: dict[str, OpFunc] = {}
    tables = [iam, MFA, providers, SIMULATOR]
    if keyring is not None:
        from broker.service.sts import sts_operations

        tables.append(sts_operations(keyring, web_identity, saml))
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"operations registered twice: {sorted(clash)}")
        merged.update(table)
    return merged
