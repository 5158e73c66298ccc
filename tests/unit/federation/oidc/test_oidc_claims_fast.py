"""context_keys' shortcut for top-level string claims gives exactly what walking every claim gives."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from broker.federation.oidc.claims import MAX_DEPTH, MAX_KEYS, context_keys


def _reference(prefix: str, claims: Mapping[str, Any], audience: str) -> dict[str, Any]:
    """The implementation before the shortcut, verbatim in behaviour."""

    def scalar(value: Any) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return json.dumps(value)
        return None

    def walk(path: tuple[str, ...], value: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(value, dict):
            if len(path) >= MAX_DEPTH:
                return
            for name, member in value.items():
                yield from walk((*path, str(name)), member)
            return
        name = "/".join(m.replace("~", "~0").replace("/", "~1") for m in path)
        if isinstance(value, list):
            items = [scalar(v) for v in value]
            if all(i is not None for i in items):
                yield name, [i for i in items if i is not None]
            return
        item = scalar(value)
        if item is not None:
            yield name, item

    out: dict[str, Any] = {}
    for name, value in claims.items():
        if name == "https://aws.amazon.com/tags":
            continue
        for path, item in walk((str(name),), value):
            if len(out) >= MAX_KEYS:
                break
            if path == "aud":
                out[f"{prefix}:oaud"] = item
                continue
            out[f"{prefix}:{path}"] = item
    out[f"{prefix}:aud"] = audience
    return out


NAMES = ["sub", "aud", "a/b", "x~y", "https://example.com/claim", "groups", "kubernetes.io", "n", "email_verified"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["str", "str", "int", "float", "bool", "none", "list", "dict"] if depth < 5 else ["str"])
    if kind == "str":
        return rng.choice(["", "v", "repo:o/r:ref:refs/heads/main", "a~b/c"])
    if kind == "int":
        return rng.randint(-5, 2**40)
    if kind == "float":
        return rng.random()
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [_value(rng, 5) if rng.random() < 0.8 else {"o": 1} for _ in range(rng.randint(0, 3))]
    return {rng.choice(NAMES): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(200))
def test_same_keys_as_walking_every_claim(seed: int) -> None:
    rng = random.Random(seed)
    claims = {rng.choice(NAMES) + str(rng.randint(0, 3) if rng.random() < 0.5 else ""): _value(rng)
              for _ in range(rng.randint(0, 12))}
    if rng.random() < 0.3:
        claims["aud"] = rng.choice(["sts.amazonaws.com", ["a", "b"]])
    got = context_keys("idp.example/x", claims, "sts.amazonaws.com")
    assert got == _reference("idp.example/x", claims, "sts.amazonaws.com")
    assert list(got) == list(_reference("idp.example/x", claims, "sts.amazonaws.com"))


def test_key_limit_with_many_string_claims() -> None:
    claims: dict[str, Any] = {f"c{i}": "v" for i in range(300)}
    claims["nested"] = {"a": "b"}
    claims["aud"] = ["x", "y"]
    got = context_keys("p", claims, "x")
    assert got == _reference("p", claims, "x")
    assert len(got) == MAX_KEYS + 1  # the limit, plus :aud always
