"""The policy benchmark's inputs are right: the generator is deterministic and stays in its subset, and the
naive model, the Cedar translation, moto (with its documented gaps) and broker agree on hand-checked cases.

Expected verdicts below were worked out by hand from the AWS IAM User Guide, "Policy evaluation logic"
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and
"Condition operators"
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

cedarpy = pytest.importorskip("cedarpy")
pytest.importorskip("moto")

from benchmarks import policy_model  # noqa: E402
from benchmarks.policy_broker import load_broker  # noqa: E402
from benchmarks.policy_cedar import cedar_request, cedar_verdict, translate_documents, translate_statement  # noqa: E402
from benchmarks.policy_corpus import NOW, EvalRequest, build_corpus, generate_statements  # noqa: E402
from benchmarks.policy_moto import classify, moto_evaluator  # noqa: E402

ACCT = "123456789012"
BUCKET = "arn:aws:s3:::bucket-1"

POLICY_A: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:listbucket"], "Resource": [BUCKET, f"{BUCKET}/*"]},
    {"Sid": "TeamWrite", "Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET}/data/*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["data", "platform"]},
                   "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
]}
POLICY_B: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET}/secret/*"},
    {"Sid": "MfaRecent", "Effect": "Allow", "Action": "iam:List*", "Resource": "*",
     "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
                   "DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}},
]}
TLS_ONLY: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TlsOnly", "Effect": "Deny", "Action": "*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
]}
DOCS = [POLICY_A, POLICY_B]
BASE = {"aws:SecureTransport": "true", "aws:SourceIp": "10.1.2.3", "aws:CurrentTime": NOW,
        "aws:PrincipalTag/team": "data"}
NO_TEAM = {k: v for k, v in BASE.items() if k != "aws:PrincipalTag/team"}

# (docs, action, resource, context, IAM verdict, moto verdict, moto disagreement category or None)
Case = tuple[list[dict[str, Any]], str, str, dict[str, str], str, str, "str | None"]
CASES: list[Case] = [
    (DOCS, "s3:GetObject", f"{BUCKET}/data/x", BASE, "Allow", "Allow", None),
    (DOCS, "S3:ListBucket", BUCKET, BASE, "Allow", "ImplicitDeny", "action-case"),
    (DOCS, "s3:GetObject", f"{BUCKET}/secret/k", BASE, "ExplicitDeny", "ExplicitDeny", None),
    (DOCS, "s3:PutObject", f"{BUCKET}/data/x", BASE, "Allow", "Allow", None),
    (DOCS, "s3:PutObject", f"{BUCKET}/data/x", {**BASE, "aws:PrincipalTag/team": "mobile"}, "ImplicitDeny",
     "ExplicitDeny", "unmet-condition-denies"),
    (DOCS, "s3:PutObject", "arn:aws:s3:::bucket-2/data/x", {**BASE, "aws:PrincipalTag/team": "mobile"},
     "ImplicitDeny", "ExplicitDeny", "condition-before-resource"),
    (DOCS, "s3:PutObject", f"{BUCKET}/data/x", NO_TEAM, "ImplicitDeny", "Allow", "missing-key"),
    (DOCS, "s3:PutObject", f"{BUCKET}/data/x", {**BASE, "aws:SourceIp": "203.0.113.9"}, "ImplicitDeny", "Allow",
     "unsupported-operator"),
    (DOCS, "iam:ListRoles", "*", {**BASE, "aws:MultiFactorAuthAge": "120"}, "Allow", "Allow", None),
    (DOCS, "iam:ListRoles", "*", BASE, "ImplicitDeny", "Allow", "unsupported-operator"),
    (DOCS, "iam:ListRoles", "*", {**BASE, "aws:MultiFactorAuthAge": "7200"}, "ImplicitDeny", "Allow",
     "unsupported-operator"),
    (DOCS, "ec2:DescribeInstances", "*", BASE, "ImplicitDeny", "ImplicitDeny", None),
    ([POLICY_A, TLS_ONLY], "s3:GetObject", f"{BUCKET}/data/x", BASE, "Allow", "ExplicitDeny", "unsupported-operator"),
    ([POLICY_A, TLS_ONLY], "s3:GetObject", f"{BUCKET}/data/x", {**BASE, "aws:SecureTransport": "false"},
     "ExplicitDeny", "ExplicitDeny", None),
]


def test_generator_is_deterministic_per_seed() -> None:
    a = build_corpus(50, requests=30, seed=7)
    assert a == build_corpus(50, requests=30, seed=7)
    assert a.documents != build_corpus(50, requests=30, seed=8).documents
    assert len(a.documents) == 10 and len(a.requests) == 30


def test_generator_mix_and_subset() -> None:
    statements = generate_statements(2_000, seed=1)
    effects = Counter(s["Effect"] for s in statements)
    operators = Counter(op for s in statements for op in s.get("Condition", {}))
    conditional_allows = sum(1 for s in statements if s["Effect"] == "Allow" and "Condition" in s)
    assert 0.07 < effects["Deny"] / 2_000 < 0.13
    assert 0.15 < conditional_allows / effects["Allow"] < 0.25
    assert set(operators) == {"StringEquals", "StringLike", "IpAddress", "NotIpAddress", "Bool", "DateLessThan",
                              "NumericLessThan"}
    text = json.dumps(statements)
    assert "?" not in text and "NotAction" not in text and "NotResource" not in text and "${" not in text


def test_translation_text_for_one_statement() -> None:
    stmt = POLICY_A["Statement"][1]
    assert translate_statement(stmt) == (
        'permit(principal, action, resource) when { context.action == "s3:putobject" && '
        'context.resource like "arn:aws:s3:::bucket-1/data/*" && (context has "aws:principaltag/team" && '
        '["data", "platform"].contains(context["aws:principaltag/team"])) && (context has "aws:sourceip" && '
        'context["aws:sourceip"].isInRange(ip("10.0.0.0/8"))) };'
    )
    negated = {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
               "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}}
    assert translate_statement(negated) == (
        'forbid(principal, action, resource) when { context.action like "kms:*" && '
        '(!(context has "aws:sourceip") || !(context["aws:sourceip"].isInRange(ip("10.0.0.0/8")))) };'
    )


def test_cedar_request_types_the_context() -> None:
    req = cedar_request("S3:GetObject", f"{BUCKET}/k", {**BASE, "aws:MultiFactorAuthAge": "60"})
    assert req["context"] == {
        "aws:securetransport": True, "aws:sourceip": {"__extn": {"fn": "ip", "arg": "10.1.2.3"}},
        "aws:currenttime": 1_795_867_200, "aws:principaltag/team": "data", "aws:multifactorauthage": 60,
        "action": "s3:getobject", "resource": f"{BUCKET}/k",
    }


def test_translation_rejects_question_mark() -> None:
    with pytest.raises(ValueError, match="'\\?' wildcard has no Cedar equivalent"):
        translate_statement({"Effect": "Allow", "Action": "s3:Get?bject", "Resource": "*"})


def _cedar(docs: list[dict[str, Any]]) -> Any:
    ps = cedarpy.PolicySet.from_str(translate_documents(docs))
    entities = cedarpy.Entities.from_json_str("[]")

    def decide(action: str, resource: str, context: dict[str, str]) -> str:
        out = cedarpy.is_authorized(cedar_request(action, resource, context), ps, entities)
        assert out.diagnostics.errors == []
        return cedar_verdict(out.allowed, out.diagnostics.reasons)

    return decide


@pytest.mark.parametrize(("docs", "action", "resource", "context", "iam", "moto", "category"), CASES)
def test_hand_checked_cases(docs: list[dict[str, Any]], action: str, resource: str, context: dict[str, str],
                            iam: str, moto: str, category: str | None) -> None:
    assert policy_model.evaluate(docs, action, resource, context) == iam
    assert _cedar(docs)(action, resource, context) == iam
    moto_verdict = moto_evaluator([json.dumps(d) for d in docs])(action, resource, context)
    assert moto_verdict == moto
    if category is not None:
        assert classify(docs, action, resource, context, moto_verdict) == category


@pytest.mark.parametrize(("docs", "action", "resource", "context", "iam"), [c[:5] for c in CASES])
def test_broker_on_hand_checked_cases(docs: list[dict[str, Any]], action: str, resource: str,
                                      context: dict[str, str], iam: str) -> None:
    engine, why = load_broker([json.dumps(d) for d in docs])
    if engine is None:
        pytest.skip(why)
    assert engine.verdict(engine.prepare([EvalRequest(action, resource, context)])[0]) == iam


def test_cedar_translation_agrees_with_model_on_generated_corpus() -> None:
    corpus = build_corpus(50, requests=300, seed=3)
    docs = corpus.parsed
    cedar = _cedar(docs)
    verdicts: Counter[str] = Counter()
    for r in corpus.requests:
        expected = policy_model.evaluate(docs, r.action, r.resource, r.context)
        assert cedar(r.action, r.resource, dict(r.context)) == expected, r
        verdicts[expected] += 1
    assert set(verdicts) == {"Allow", "ExplicitDeny", "ImplicitDeny"}
