"""Every Query-API operation broker implements, by action name."""

from __future__ import annotations

from broker.service.env import OpFunc

__all__ = ["all_operations"]


def all_operations() -> dict[str, OpFunc]:
    from broker.service.iam import OPERATIONS as IAM
    from broker.service.providers import OPERATIONS as PROVIDERS

    merged: dict[str, OpFunc] = {}
    for table in (IAM, PROVIDERS):
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"operations registered twice: {sorted(clash)}")
        merged.update(table)
    return merged
