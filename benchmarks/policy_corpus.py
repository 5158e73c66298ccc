"""A deterministic, realistic IAM identity-policy corpus and request mix for the policy benchmarks.

Everything here is seeded (``random.Random(seed)``) and never reads the wall clock: the same seed gives
the same policies and requests on every machine, so broker, moto and cedarpy see identical inputs.

The policy language subset produced (and therefore the subset every translation must be faithful to):

- ``Effect`` Allow (~90 %) or Deny (~10 %); ``Action`` a string or list of exact actions (a few spelled in
  lower case: action names are case-insensitive), ``service:Verb*`` / ``service:*`` wildcards, or ``*``;
- ``Resource`` exact ARNs, ARNs with a ``*`` in the resource-id part, or ``*``;
- ``Condition`` on ~20 % of statements with the operators ``StringEquals`` (``aws:PrincipalTag/team``),
  ``StringLike`` (``aws:PrincipalTag/project``), ``IpAddress`` / ``NotIpAddress`` (``aws:SourceIp``),
  ``Bool`` (``aws:SecureTransport``), ``DateLessThan`` (``aws:CurrentTime``) and ``NumericLessThan``
  (``aws:MultiFactorAuthAge``). Negated operators are only used on keys every request carries.

No ``?`` wildcard, ``NotAction``/``NotResource``, policy variables or ``IfExists``: moto cannot express them
and Cedar's ``like`` has no single-character wildcard, so they would measure translation gaps, not speed.
Semantics: "IAM JSON policy elements reference"
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCOUNT",
    "NOW",
    "SERVICES",
    "Corpus",
    "EvalRequest",
    "build_corpus",
    "generate_requests",
    "generate_statements",
    "group_policies",
]

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
NOW = "2026-11-28T12:00:00Z"
"""The request time every generated request carries as ``aws:CurrentTime`` (fixed: no wall clock)."""

TEAMS = ("platform", "data", "payments", "security", "mobile")
PROJECTS = ("alpha-web", "alpha-prod", "beta-prod", "gamma-dev")

SERVICES: Mapping[str, tuple[str, ...]] = {
    "s3": ("GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketPolicy", "GetObjectTagging",
           "PutObjectAcl", "ListBucketVersions"),
    "ec2": ("DescribeInstances", "DescribeVolumes", "StartInstances", "StopInstances", "TerminateInstances",
            "RunInstances", "CreateTags", "DescribeTags"),
    "dynamodb": ("GetItem", "PutItem", "Query", "Scan", "DeleteItem", "UpdateItem", "DescribeTable",
                 "BatchGetItem"),
    "sqs": ("SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
            "ListQueues"),
    "iam": ("GetRole", "ListRoles", "CreateRole", "PassRole", "GetUser", "ListUsers", "AttachRolePolicy",
            "DeleteRole"),
    "kms": ("Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey", "CreateGrant", "ListKeys"),
    "lambda": ("InvokeFunction", "GetFunction", "ListFunctions", "UpdateFunctionCode", "CreateFunction",
               "DeleteFunction"),
}
READ_ONLY: Mapping[str, tuple[str, ...]] = {
    "s3": ("s3:List*",), "ec2": ("ec2:Describe*",), "dynamodb": ("dynamodb:Describe*",), "sqs": ("sqs:List*",),
    "iam": ("iam:List*", "iam:Get*"), "kms": ("kms:List*", "kms:Describe*"), "lambda": ("lambda:List*",),
}
"""Read-only wildcards: the only Allows on ``Resource: "*"`` (List/Describe calls have no resource ARN)."""
DESTRUCTIVE = ("s3:DeleteObject", "ec2:TerminateInstances", "dynamodb:DeleteItem", "iam:DeleteRole",
               "iam:AttachRolePolicy", "kms:CreateGrant", "lambda:DeleteFunction", "iam:*")


@dataclass(frozen=True, slots=True)
class EvalRequest:
    """One authorization question in IAM terms: every context value is a string, as IAM sees it."""

    action: str
    resource: str
    context: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Corpus:
    """A policy set (JSON documents, grouped like a principal's attached policies) and its requests."""

    statements: int
    documents: tuple[str, ...]
    requests: tuple[EvalRequest, ...]

    @property
    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(d) for d in self.documents]


def _verb(action: str) -> str:
    """``DescribeInstances`` -> ``Describe`` (the leading capitalised word)."""
    for i in range(1, len(action)):
        if action[i].isupper():
            return action[:i]
    return action


def _concrete_resource(rng: random.Random, service: str, pool: int) -> str:
    """A realistic concrete ARN for ``service`` drawn from a pool of ``pool`` resources per kind."""
    i = rng.randrange(pool)
    region = REGIONS[i % len(REGIONS)]
    if service == "s3":
        if rng.random() < 0.25:
            return f"arn:aws:s3:::bucket-{i}"
        return f"arn:aws:s3:::bucket-{i}/{rng.choice(('logs', 'data', 'tmp'))}/obj-{rng.randrange(10_000)}"
    if service == "ec2":
        kind = rng.choice(("instance", "volume"))
        prefix = "i" if kind == "instance" else "vol"
        return f"arn:aws:ec2:{region}:{ACCOUNT}:{kind}/{prefix}-{i:08x}"
    if service == "dynamodb":
        return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/table-{i}"
    if service == "sqs":
        return f"arn:aws:sqs:{region}:{ACCOUNT}:queue-{i}"
    if service == "iam":
        if rng.random() < 0.3:
            return f"arn:aws:iam::{ACCOUNT}:user/user-{i}"
        return f"arn:aws:iam::{ACCOUNT}:role/team-{TEAMS[i % len(TEAMS)]}/role-{i}"
    if service == "kms":
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/{i:08x}-4a1b-9c2d-{i * 7919 % 10**12:012d}"
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:fn-{i}"


def _wildcard_resource(rng: random.Random, concrete: str) -> str:
    """Widen a concrete ARN with a ``*`` in its resource-id part (never in partition/service/region/account).

    Usually the id stays (``bucket-12/*``, ``table/table-12*``, ``function:fn-12*``); 3 % of the time the
    whole resource type is covered (``table/*``), as in broad but not unlimited grants.
    """
    if rng.random() < 0.03:
        head, _, rid = concrete.rpartition(":")
        kind = rid.split("/")[0] if "/" in rid else rid.rstrip("0123456789")
        return f"{head}:{kind}/*" if "/" in rid else f"{head}:{kind}*"
    if concrete.startswith("arn:aws:s3:::") and "/" in concrete:
        parts = concrete.split("/")
        return "/".join(parts[:rng.randrange(1, len(parts))]) + "/*"
    if ":role/" in concrete:
        return concrete.rsplit("/", 1)[0] + "/*"
    if ":key/" in concrete:
        head, _, rid = concrete.partition(":key/")
        return f"{head}:key/{rid.split('-')[0]}-*"
    return f"{concrete}*"


def _action_element(rng: random.Random, service: str) -> list[str]:
    r = rng.random()
    if r < 0.6:
        actions = rng.sample(SERVICES[service], rng.randint(1, 3))
        return [a.lower() if rng.random() < 0.05 else a for a in (f"{service}:{x}" for x in actions)]
    if r < 0.92:
        return [f"{service}:{_verb(rng.choice(SERVICES[service]))}*"]
    return [f"{service}:*"]


def _resource_element(rng: random.Random, service: str, pool: int) -> list[str]:
    if rng.random() < 0.5:
        return [_concrete_resource(rng, service, pool) for _ in range(rng.randint(1, 2))]
    return [_wildcard_resource(rng, _concrete_resource(rng, service, pool))]


def _condition(rng: random.Random) -> dict[str, dict[str, Any]]:
    """One or two operators, each on one key; ``IpAddress``/``StringEquals`` sometimes with two values (OR)."""
    choices = rng.sample(range(6), rng.choice((1, 1, 2)))
    cond: dict[str, dict[str, Any]] = {}
    for c in choices:
        if c == 0:
            teams = rng.sample(TEAMS, rng.choice((1, 1, 2)))
            cond["StringEquals"] = {"aws:PrincipalTag/team": teams[0] if len(teams) == 1 else teams}
        elif c == 1:
            cond["StringLike"] = {"aws:PrincipalTag/project": rng.choice(("alpha-*", "*-prod"))}
        elif c == 2:
            cond["IpAddress"] = {"aws:SourceIp": rng.choice((["10.0.0.0/8"], ["192.0.2.0/24", "198.51.100.0/24"]))}
        elif c == 3:
            cond["Bool"] = {"aws:SecureTransport": "true"}
        elif c == 4:
            cond["DateLessThan"] = {"aws:CurrentTime": rng.choice(("2027-01-01T00:00:00Z", "2026-06-30T00:00:00Z"))}
        else:
            cond["NumericLessThan"] = {"aws:MultiFactorAuthAge": rng.choice(("3600", "900"))}
    return cond


def _deny_statement(rng: random.Random, pool: int) -> dict[str, Any]:
    """Deny shapes seen in real accounts: TLS-only guard, network fence, destructive-action denies."""
    r = rng.random()
    if r < 0.25:
        return {"Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    if r < 0.45:
        service = rng.choice(("s3", "kms", "dynamodb"))
        return {"Effect": "Deny", "Action": f"{service}:*", "Resource": "*",
                "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}}
    action = rng.choice(DESTRUCTIVE)
    service = action.split(":")[0]
    stmt: dict[str, Any] = {"Effect": "Deny", "Action": action, "Resource": _resource_element(rng, service, pool)}
    if rng.random() < 0.2:
        stmt["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": rng.choice(TEAMS)}}
    return stmt


def generate_statements(count: int, *, seed: int) -> list[dict[str, Any]]:
    """``count`` statements: ~10 % Deny, ~20 % of Allows conditional, ~5 % read-only Allows on ``*``."""
    rng = random.Random(seed)
    pool = max(20, count // 4)
    out: list[dict[str, Any]] = []
    for n in range(count):
        if rng.random() < 0.1:
            stmt = _deny_statement(rng, pool)
        elif rng.random() < 0.06:
            service = rng.choice(tuple(SERVICES))
            stmt = {"Effect": "Allow", "Action": list(READ_ONLY[service]), "Resource": "*"}
        else:
            service = rng.choice(tuple(SERVICES))
            stmt = {"Effect": "Allow", "Action": _action_element(rng, service),
                    "Resource": _resource_element(rng, service, pool)}
            if rng.random() < 0.2:
                stmt["Condition"] = _condition(rng)
        out.append({"Sid": f"S{n}", **stmt})
    return out


def group_policies(statements: Sequence[dict[str, Any]], per_policy: int) -> tuple[str, ...]:
    """Pack statements into identity-policy JSON documents of ``per_policy`` statements each."""
    docs = []
    for i in range(0, len(statements), per_policy):
        docs.append(json.dumps({"Version": "2012-10-17", "Statement": list(statements[i:i + per_policy])},
                               separators=(",", ":")))
    return tuple(docs)


def _context(rng: random.Random) -> dict[str, str]:
    ctx = {"aws:CurrentTime": NOW, "aws:SecureTransport": "true" if rng.random() < 0.97 else "false"}
    r = rng.random()
    if r < 0.7:
        ctx["aws:SourceIp"] = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    elif r < 0.92:
        ctx["aws:SourceIp"] = f"192.0.2.{rng.randrange(1, 255)}"
    else:
        ctx["aws:SourceIp"] = f"203.0.113.{rng.randrange(1, 255)}"
    if rng.random() < 0.9:
        ctx["aws:PrincipalTag/team"] = rng.choice(TEAMS)
    if rng.random() < 0.7:
        ctx["aws:PrincipalTag/project"] = rng.choice(PROJECTS)
    if rng.random() < 0.5:
        ctx["aws:MultiFactorAuthAge"] = str(rng.randrange(0, 7200))
    return ctx


def _instantiate_action(rng: random.Random, pattern: str) -> str:
    if pattern == "*":
        service = rng.choice(tuple(SERVICES))
        return f"{service}:{rng.choice(SERVICES[service])}"
    service, _, name = pattern.partition(":")
    if not name.endswith("*"):
        return next(f"{service}:{a}" for a in SERVICES[service] if a.lower() == name.lower())
    candidates = [a for a in SERVICES[service] if a.startswith(name[:-1])]
    return f"{service}:{rng.choice(candidates)}"


def _instantiate_resource(rng: random.Random, pattern: str, service: str, pool: int) -> str:
    if pattern == "*":
        return _concrete_resource(rng, service, pool)
    return pattern.replace("*", rng.choice(("7", "12", "x-7")))


def generate_requests(statements: Sequence[dict[str, Any]], count: int, *, seed: int) -> tuple[EvalRequest, ...]:
    """A request mix: ~60 % aimed at an Allow statement, ~10 % at a Deny, ~30 % random across a universe
    twice the size of the resource pool the policies were drawn from.

    Aimed requests instantiate the statement's action and resource patterns, so they usually hit it;
    their random context decides the conditions, which yields allows, explicit and implicit denies.
    """
    rng = random.Random(seed ^ 0x5EED)
    pool = max(20, len(statements) // 4)
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"] or allows
    out: list[EvalRequest] = []
    for _ in range(count):
        r = rng.random()
        if r < 0.7:
            stmt = rng.choice(allows if r < 0.6 else denies)
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            action = _instantiate_action(rng, rng.choice(actions))
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            resource = _instantiate_resource(rng, rng.choice(resources), action.split(":")[0], pool)
        else:
            service = rng.choice(tuple(SERVICES))
            action = f"{service}:{rng.choice(SERVICES[service])}"
            resource = _concrete_resource(rng, service, pool * 2)
        out.append(EvalRequest(action, resource, _context(rng)))
    return tuple(out)


def build_corpus(statements: int, *, requests: int, per_policy: int = 5, seed: int = 20261128) -> Corpus:
    """The statements, packed ``per_policy`` to a document, and ``requests`` requests aimed at them."""
    stmts = generate_statements(statements, seed=seed + statements)
    return Corpus(statements, group_policies(stmts, per_policy), generate_requests(stmts, requests, seed=seed))
