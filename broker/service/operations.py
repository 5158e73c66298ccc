"""Every Query-API operation broker implements, by action name."""

from __future__ import annotations

from broker.service.env import OpFunc

__all__ = ["all_operations"]


def all_operations(*, allow_http_issuers: bool = False) -> dict[str, OpFunc]:
    from broker.service.iam import OPERATIONS as IAM
    from broker.service.mfa import OPERATIONS as MFA
    from broker.service.providers import ProviderSettings, make_operations
    from broker.service.simulator import OPERATIONS as SIMULATOR

    providers = make_operations(ProviderSettings(allow_http_issuers=allow_http_issuers))
    merged: dict[str, OpFunc] = {}
    for table in (IAM, MFA, providers, SIMULATOR):
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"operations registered twice: {sorted(clash)}")
        merged.update(table)
    return merged
