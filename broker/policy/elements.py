"""Checks of single statement elements: one action, one resource ARN, one Condition block.

Wording and sources as in ``validate.py`` ("IAM JSON policy elements: Action", "Resource",
"Condition"; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html).
"""

from __future__ import annotations

import re
from typing import Any

from broker.policy.conditions.clause import Clause
from broker.policy.conditions.registry import parse_operator
from broker.policy.model import PolicyKind, Problem
from broker.policy.parse import child_pointer
from broker.policy.patterns import glob_source
from broker.policy.variables import Template, VariableSyntaxError, parse_template

__all__ = [
    "INVALID_ACTION",
    "ONE_COLON",
    "SYNTAX",
    "TRUST_ACTIONS",
    "VENDOR",
    "action_problem",
    "condition_clauses",
    "resource_problem",
]

SYNTAX = "Syntax errors in policy."
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
INVALID_ACTION = "Policy has invalid action"
TRUST_ACTIONS = (
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "sts:tagsession",
    "sts:setsourceidentity",
    "sts:setcontext",
)
_VENDOR = re.compile(r"^[a-zA-Z0-9\-.]+$")
_PARTITION = re.compile(r"^[a-z0-9*?-]+$")


def action_problem(action: str, kind: PolicyKind) -> str | None:
    if action == "*":
        return INVALID_ACTION if kind == "trust" else None
    parts = action.split(":")
    if len(parts) == 1:
        return VENDOR
    if len(parts) > 2:
        return ONE_COLON
    vendor, name = parts
    if vendor != "*" and not _VENDOR.match(vendor):
        return f"Vendor {vendor} is not valid"
    if not name:
        return INVALID_ACTION
    if kind == "trust":
        matcher = re.compile(glob_source(action.lower()), re.DOTALL).fullmatch
        if vendor.lower() != "sts" or not any(matcher(a) for a in TRUST_ACTIONS):
            return INVALID_ACTION
    return None


def resource_problem(resource: str, variables: bool) -> str | None:
    if resource == "*":
        return None
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return f'Resource {resource} must be in ARN format or "*".'
    partition, service, region = parts[1], parts[2], parts[3]
    if not _PARTITION.match(partition):
        return f'Partition "{partition}" is not valid for resource "{resource}".'
    if not service or "*" in service or "?" in service or "${" in service:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    if service == "iam" and region:
        return f"IAM resource {resource} cannot contain region information."
    if variables and "${" in ":".join(parts[:5]):
        return f"Resource {resource} can use policy variables only in its resource part"
    if variables:
        try:
            parse_template(parts[5])
        except VariableSyntaxError as exc:
            return str(exc)
    return None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def condition_clauses(block: Any, pointer: str, variables: bool, problems: list[Problem]) -> tuple[Clause, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        problems.append(Problem(pointer, SYNTAX))
        return ()
    clauses: list[Clause] = []
    for op_name, entries in block.items():
        op_at = child_pointer(pointer, op_name)
        parsed = parse_operator(op_name)
        if parsed is None or not isinstance(entries, dict):
            problems.append(Problem(op_at, SYNTAX))
            continue
        for key, raw in entries.items():
            at = child_pointer(op_at, key)
            prefix, colon, rest = key.partition(":")
            if not colon or not prefix or not rest:
                problems.append(Problem(at, VENDOR))
                continue
            raw_list = raw if isinstance(raw, list) else [raw]
            values = [_scalar(v) for v in raw_list]
            if not raw_list or any(v is None for v in values):
                problems.append(Problem(at, SYNTAX))
                continue
            static: list[str] = []
            templates: list[Template] = []
            try:
                for value in values:
                    assert value is not None
                    template = parse_template(value) if variables and parsed.operator.variables else None
                    if template is None:
                        static.append(value)
                    else:
                        templates.append(template)
                clauses.append(Clause(op_name, parsed, key, static, templates))
            except ValueError as exc:  # VariableSyntaxError or a value the operator cannot take
                problems.append(Problem(at, str(exc)))
    return tuple(clauses)
