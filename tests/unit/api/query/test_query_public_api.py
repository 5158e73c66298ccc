"""Each codec module's hand-written ``__all__`` names exactly its public definitions."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ["broker.api.query", "broker.api.query.codec", "broker.api.query.decode", "broker.api.query.encode",
           "broker.api.query.form", "broker.api.query.model", "broker.api.query.patterns",
           "broker.api.query.validate", "broker.api.query.xmltext", "broker.api.errors"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_in_sync(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, item) for item in exported)
    if name == "broker.api.query":
        return
    public = {
        attr for attr, value in vars(module).items()
        if not attr.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == name
    }
    assert public <= exported, sorted(public - exported)
