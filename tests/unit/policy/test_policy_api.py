"""The public API is curated by hand and the package stays pure (standard library + broker.errors)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import ModuleType

import broker.policy

PACKAGE = Path(broker.policy.__file__).parent


def test_all_is_hand_written_and_complete() -> None:
    exported = set(broker.policy.__all__)
    public = {
        name
        for name, value in vars(broker.policy).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert exported == public, "update __all__ in broker/policy/__init__.py"
    assert broker.policy.__all__ == sorted(broker.policy.__all__, key=lambda n: (not n.isupper(), n))


def test_imports_are_standard_library_or_broker_errors() -> None:
    stdlib = set(sys.stdlib_module_names)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or name == "broker.errors" or name.startswith("broker.policy"):
                    continue
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_no_wall_clock_reads() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for forbidden in ("datetime.now(", "utcnow(", "time.time("):
            assert forbidden not in text, f"{path}: {forbidden}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
