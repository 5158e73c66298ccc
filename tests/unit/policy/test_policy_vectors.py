"""Runs the vector corpus in tests/vectors/policy (provenance in its SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.policy import PolicySet, PrincipalRef, Request, compile_policy, evaluate, validate

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "policy"
FILES = sorted(VECTORS.glob("*.json"))


def _load() -> tuple[list[Any], list[Any]]:
    evaluations: list[Any] = []
    validations: list[Any] = []
    for path in FILES:
        body = json.loads(path.read_text())
        assert body["source"].startswith("https://docs.aws.amazon.com/"), path
        for case in body.get("cases", []):
            for index, request in enumerate(case["requests"]):
                evaluations.append(
                    pytest.param(
                        case, request, body.get("resource_kind", "resource"), id=f"{path.stem}:{case['name']}:{index}"
                    )
                )
        for case in body.get("validation", []):
            validations.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return evaluations, validations


EVALUATIONS, VALIDATIONS = _load()


def test_corpus_is_present_and_sourced() -> None:
    assert (VECTORS / "SOURCE.md").is_file()
    assert len(FILES) >= 6 and len(EVALUATIONS) >= 100 and len(VALIDATIONS) >= 10
    for path in FILES:
        body = json.loads(path.read_text())
        for case in body.get("cases", []) + body.get("validation", []):
            assert case["source"].startswith("https://"), (path.name, case["name"])


def _compile(docs: list[Any] | None, kind: Any, prefix: str) -> list[Any] | None:
    if docs is None:
        return None
    return [compile_policy(json.dumps(d), policy_id=f"{prefix}-{i}", kind=kind) for i, d in enumerate(docs)]


@pytest.mark.parametrize(("case", "request_", "resource_kind"), EVALUATIONS)
def test_evaluation_vector(case: dict[str, Any], request_: dict[str, Any], resource_kind: str) -> None:
    policies = case["policies"]
    pset = PolicySet(
        identity=_compile(policies.get("identity", []), "identity", "identity") or [],
        resource=_compile(policies.get("resource", []), resource_kind, "resource") or [],
        boundary=_compile(policies.get("boundary"), "boundary", "boundary"),
        session=_compile(policies.get("session"), "session", "session"),
    )
    principal = None
    if "principal" in request_:
        p = request_["principal"]
        principal = PrincipalRef(p["arn"], p.get("account"), p.get("type", "AWS"), p.get("role_arn"))
    request = Request(
        request_["action"], request_["resource"], request_["context"], principal, request_.get("resource_account")
    )
    decision = evaluate(request, pset)
    assert decision.effect == request_["expect"], (case["source"], decision.reason)
    assert decision.errors == ()
    if "matched" in request_:
        assert [m.sid for m in decision.matched] == request_["matched"]
    if "missing" in request_:
        assert list(decision.missing_context_keys) == request_["missing"]


@pytest.mark.parametrize("case", VALIDATIONS)
def test_validation_vector(case: dict[str, Any]) -> None:
    document = case["document"] if isinstance(case["document"], str) else json.dumps(case["document"])
    assert [[p.pointer, p.message] for p in validate(document, case["kind"])] == case["problems"], case["source"]
