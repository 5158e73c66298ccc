"""The compact models: provenance, routing by Action/Version, and the Java pattern translation."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore
import pytest

from broker.api.query.model import MISSING_VERSION, load_models, lookup, operations
from broker.api.query.patterns import compile_java_pattern, translate_java_pattern
from broker.errors import InvalidAction, MissingAction

MODELS = Path(__file__).resolve().parents[4] / "broker" / "api" / "query" / "models"


def test_source_records_botocore_version_and_license() -> None:
    text = (MODELS / "SOURCE.md").read_text()
    assert f"botocore {botocore.__version__}" in text
    assert "Apache License 2.0" in text


@pytest.mark.parametrize(("service", "version"), [("iam", "2010-05-08"), ("sts", "2011-06-15")])
def test_compact_model_matches_botocore(service: str, version: str) -> None:
    data = Path(botocore.__file__).parent / "data" / service / version / "service-2.json.gz"
    with gzip.open(data, "rt") as fh:
        full = json.load(fh)
    compact = json.loads((MODELS / f"{service}.json").read_text())
    assert set(compact["operations"]) == set(full["operations"])
    assert compact["xmlNamespace"] == full["metadata"]["xmlNamespace"]
    for name, shape in compact["shapes"].items():
        original = full["shapes"][name]
        for key in ("type", "min", "max", "pattern", "enum", "required", "sensitive"):
            assert shape.get(key) == original.get(key), (name, key)
        assert list(shape.get("members", {})) == list(original.get("members", {})), name


def test_iam_and_sts_operation_names_are_disjoint() -> None:
    models = load_models()
    assert not models["iam"].operations.keys() & models["sts"].operations.keys()
    assert len(operations()) == len(models["iam"].operations) + len(models["sts"].operations)


def test_lookup_routes_by_action_and_version() -> None:
    role = lookup("CreateRole", "2010-05-08")
    assert (role.service, role.namespace, role.result_wrapper) == (
        "iam", "https://iam.amazonaws.com/doc/2010-05-08/", "CreateRoleResult")
    assume = lookup("AssumeRole", "2011-06-15")
    assert (assume.service, assume.namespace) == ("sts", "https://sts.amazonaws.com/doc/2011-06-15/")
    assert assume.input is not None and assume.input.name == "AssumeRoleRequest"


def test_unsigned_operations_are_the_federation_calls() -> None:
    unsigned = sorted(op.name for op in operations().values() if op.unsigned)
    assert unsigned == ["AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"]


@pytest.mark.parametrize("action", [None, ""])
def test_missing_action(action: str | None) -> None:
    with pytest.raises(MissingAction) as err:
        lookup(action, "2010-05-08")
    assert (err.value.code, err.value.status, err.value.message) == ("MissingAction", 400, "Missing Action")


@pytest.mark.parametrize(
    ("action", "version", "message"),
    [
        ("CreateRoles", "2010-05-08", "Could not find operation CreateRoles for version 2010-05-08"),
        ("CreateRole", "2011-06-15", "Could not find operation CreateRole for version 2011-06-15"),
        ("AssumeRole", "2010-05-08", "Could not find operation AssumeRole for version 2010-05-08"),
        ("CreateRole", None, f"Could not find operation CreateRole for version {MISSING_VERSION}"),
        ("CreateRole", "", "Could not find operation CreateRole for version NO_VERSION_SPECIFIED"),
    ],
)
def test_invalid_action(action: str, version: str | None, message: str) -> None:
    with pytest.raises(InvalidAction) as err:
        lookup(action, version)
    assert (err.value.code, err.value.status, err.value.message) == ("InvalidAction", 400, message)


def test_every_model_pattern_is_precompiled() -> None:
    for model in load_models().values():
        for shape in model.shapes.values():
            assert (shape.pattern is None) == (shape.compiled is None), shape.name


@pytest.mark.parametrize(
    ("java", "value", "matches"),
    [
        (r"[\w+=,.@-]+", "role_name+=,.@-1", True),
        (r"[\w+=,.@-]+", "rôle", False),  # Java \w is ASCII-only
        (r"[\w+=,.@-]+", "a b", False),
        (r"\d{12}", "123456789012", True),
        (r"\d{12}", "١٢٣٤٥٦٧٨٩٠١٢", False),  # Java \d is ASCII-only
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "équipe 42", True),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", "bad*value", False),
        (r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+", "{\"a\":\"😀\"}", True),
        (r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+", "\u0001", False),
        (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", "/", True),
        (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", "/a/b/", True),
        (r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", "/a", False),
        (r"^[a-zA-Z0-9:_.-]+$", "ok\n", False),  # matches() is a full match; $ does not skip a newline
    ],
)
def test_java_pattern_semantics(java: str, value: str, matches: bool) -> None:
    assert (compile_java_pattern(java).fullmatch(value) is not None) is matches


def test_translation_rewrites_ascii_classes() -> None:
    assert translate_java_pattern(r"[\w+=,.@-]+") == "[a-zA-Z0-9_+=,.@-]+"
    assert translate_java_pattern(r"\d{12}") == "[0-9]{12}"
    with pytest.raises(ValueError, match="bad"):
        translate_java_pattern(r"\u12")
