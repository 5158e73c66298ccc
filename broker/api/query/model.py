"""The IAM and STS service models, loaded once from the compact JSON generated from botocore.

STS and IAM share broker's single Query endpoint and are routed by ``Action``: their operation names are
disjoint (checked by ``tools/gen_query_models.py`` and by the tests), so ``lookup`` needs only the action and
the ``Version`` the caller sent.

AWS Query requests name the operation in ``Action`` and the API version in ``Version``
(https://docs.aws.amazon.com/IAM/latest/APIReference/iam-api.pdf "Making Query requests";
https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html "Action", "Version"). An operation is
identified by the pair: AWS answers an unknown action, an action sent with another service's version, and an
action sent without ``Version`` alike with ``InvalidAction`` "Could not find operation <Action> for version
<Version>", the missing version shown as ``NO_VERSION_SPECIFIED`` (observed AWS wording; the Common Errors page
https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html lists ``InvalidAction`` 400 and
``MissingAction`` 400). A request with no ``Action`` at all is ``MissingAction`` "Missing Action".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import regex

from broker.api.query.patterns import compile_java_pattern
from broker.errors import InvalidAction, MissingAction

__all__ = [
    "MISSING_VERSION",
    "Member",
    "Operation",
    "ServiceModel",
    "Shape",
    "load_models",
    "lookup",
    "operations",
]

#: What AWS prints for an absent ``Version`` in its InvalidAction message.
MISSING_VERSION = "NO_VERSION_SPECIFIED"

#: Shapes AWS treats as sensitive in error messages although the model does not mark them ``sensitive``.
#: IAM omits tag values from ValidationError messages ("Value at 'tags.1.member.value' failed to satisfy
#: constraint: …", observed from IAM CreateUser/TagRole).
_SENSITIVE_OVERRIDES = {"iam": frozenset({"tagValueType"})}


@dataclass(slots=True, eq=False)
class Member:
    """A reference from a structure, list or map to a shape, with its wire names."""

    name: str
    shape: Shape
    location_name: str | None = None
    flattened: bool = False

    @property
    def wire_name(self) -> str:
        """The element or parameter name on the wire (``locationName`` when the model sets one)."""
        return self.location_name or self.name


@dataclass(slots=True, eq=False)
class Shape:
    """One model shape with the constraints the codec enforces."""

    name: str
    type: str
    members: dict[str, Member] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    compiled: regex.Pattern[str] | None = None
    enum: tuple[str, ...] = ()
    sensitive: bool = False
    flattened: bool = False
    member: Member | None = None
    key: Member | None = None
    value: Member | None = None
    policy_document: bool = False
    error_code: str | None = None
    error_status: int | None = None

    def __repr__(self) -> str:
        return f"Shape({self.name!r}, {self.type!r})"


@dataclass(frozen=True, slots=True)
class Operation:
    """One IAM or STS operation."""

    name: str
    service: str
    version: str
    namespace: str
    input: Shape | None
    output: Shape | None
    result_wrapper: str | None
    errors: tuple[Shape, ...]
    unsigned: bool


@dataclass(frozen=True, slots=True)
class ServiceModel:
    """One service: its metadata, operations and shapes."""

    service: str
    version: str
    namespace: str
    operations: dict[str, Operation]
    shapes: dict[str, Shape]


def _build_member(raw: dict[str, Any], name: str, shapes: dict[str, Shape]) -> Member:
    return Member(
        name=name,
        shape=shapes[raw["shape"]],
        location_name=raw.get("locationName"),
        flattened=bool(raw.get("flattened", False)),
    )


def _build(raw: dict[str, Any]) -> ServiceModel:
    service: str = raw["service"]
    policy_shapes = set(raw["policyDocumentShapes"])
    sensitive_extra = _SENSITIVE_OVERRIDES.get(service, frozenset())
    shapes: dict[str, Shape] = {}
    for name, spec in raw["shapes"].items():
        pattern = spec.get("pattern")
        error = spec.get("error", {})
        shapes[name] = Shape(
            name=name,
            type=spec["type"],
            required=frozenset(spec.get("required", ())),
            min=spec.get("min"),
            max=spec.get("max"),
            pattern=pattern,
            compiled=compile_java_pattern(pattern) if pattern is not None else None,
            enum=tuple(spec.get("enum", ())),
            sensitive=bool(spec.get("sensitive", False)) or name in sensitive_extra,
            flattened=bool(spec.get("flattened", False)),
            policy_document=name in policy_shapes and spec["type"] == "string",
            error_code=error.get("code") if spec.get("exception") else None,
            error_status=error.get("httpStatusCode") if spec.get("exception") else None,
        )
    for name, spec in raw["shapes"].items():
        shape = shapes[name]
        shape.members = {m: _build_member(ref, m, shapes) for m, ref in spec.get("members", {}).items()}
        for part in ("member", "key", "value"):
            if part in spec:
                setattr(shape, part, _build_member(spec[part], part, shapes))
    ops: dict[str, Operation] = {}
    for name, spec in raw["operations"].items():
        auth = spec.get("auth", raw.get("auth", []))
        ops[name] = Operation(
            name=name,
            service=service,
            version=raw["apiVersion"],
            namespace=raw["xmlNamespace"],
            input=shapes[spec["input"]] if "input" in spec else None,
            output=shapes[spec["output"]] if "output" in spec else None,
            result_wrapper=spec.get("resultWrapper"),
            errors=tuple(shapes[e] for e in spec.get("errors", ())),
            unsigned=auth == ["smithy.api#noAuth"] or spec.get("authtype") == "none",
        )
    return ServiceModel(service, raw["apiVersion"], raw["xmlNamespace"], ops, shapes)


@cache
def load_models() -> dict[str, ServiceModel]:
    """Load and link both services once (patterns are compiled here, never per request)."""
    out: dict[str, ServiceModel] = {}
    pkg = resources.files("broker.api.query") / "models"
    for service in ("iam", "sts"):
        raw = json.loads((pkg / f"{service}.json").read_text(encoding="utf-8"))
        out[service] = _build(raw)
    return out


@cache
def operations() -> dict[str, Operation]:
    """Every operation of both services by action name (the names are disjoint)."""
    merged: dict[str, Operation] = {}
    for model in load_models().values():
        clash = merged.keys() & model.operations.keys()
        if clash:
            raise RuntimeError(f"operation names collide across services: {sorted(clash)}")
        merged.update(model.operations)
    return merged


def lookup(action: str | None, version: str | None) -> Operation:
    """Return the operation named by ``Action`` for the given ``Version``.

    Raises ``MissingAction`` when there is no (or an empty) Action and ``InvalidAction`` when the action is
    unknown or does not belong to the API version sent (see the module docstring for the sources).
    """
    if not action:
        raise MissingAction("Missing Action")
    op = operations().get(action)
    if op is None or op.version != version:
        shown = version if version else MISSING_VERSION
        raise InvalidAction(f"Could not find operation {action} for version {shown}")
    return op
