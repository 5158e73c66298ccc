"""build_event redacts every member once, so the logging sink writes it as it is: the line must be exactly
what redacting the event again would give (redaction is idempotent), for every kind of caller and outcome."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
from test_audit_events import JWT, NOW, ROOT, SESSION, USER

from broker.errors import AccessDenied
from broker.principal import CallContext
from broker.service.audit import HIDDEN, LoggingAuditSink, RedactedEvent, build_event, redact


def _events() -> list[dict[str, Any]]:
    params = {"WebIdentityToken": JWT, "RoleArn": "arn:aws:iam::123456789012:role/x", "Tags": [{"Key": "k"}],
              "Nested": {"password": "p", "when": NOW, "blob": b"xyz", "long": "a" * 20_000}}
    result = {"Credentials": {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t",
                              "Expiration": NOW}, "PackedPolicySize": 3}
    out = []
    for principal in (None, ROOT, USER, SESSION):
        for ua in ("aws-cli/2", JWT, "x" * 20_000):
            call = CallContext(request_id="r-1", now=NOW, principal=principal, source_ip="10.0.0.1", user_agent=ua)
            out.append(build_event(call, "sts", "AssumeRoleWithWebIdentity", params, result, None))
            out.append(build_event(call, "iam", "CreateUser", params, None, AccessDenied("no", detail=JWT)))
    return out


@pytest.mark.parametrize("index", range(24))
def test_event_is_its_own_redaction(index: int) -> None:
    event = _events()[index]
    assert isinstance(event, RedactedEvent)
    assert json.dumps(event, sort_keys=True) == json.dumps(redact(event), sort_keys=True)
    assert JWT not in json.dumps(event)


def test_jwt_shaped_user_agent_is_hidden_in_the_stored_event_too() -> None:
    call = CallContext(request_id="r", now=NOW, principal=None, user_agent=JWT)
    assert build_event(call, "sts", "GetCallerIdentity", {}, {}, None)["userAgent"] == HIDDEN


def test_jwt_shaped_source_identity_is_hidden() -> None:
    sneaky = dataclasses.replace(SESSION, source_identity="eyJab.eyJcd.ef")
    event = build_event(CallContext(request_id="r", now=NOW, principal=sneaky), "sts", "GetCallerIdentity", {}, {},
                        None)
    assert event["userIdentity"]["sessionContext"]["sourceIdentity"] == HIDDEN


def test_sink_redacts_a_plain_mapping_and_writes_a_built_event_as_is(caplog: pytest.LogCaptureFixture) -> None:
    sink = LoggingAuditSink()
    with caplog.at_level(logging.INFO, logger="broker.audit"):
        sink({"eventName": "X", "requestParameters": {"Password": "p"}})
        built = _events()[0]
        sink(built)
    plain, written = (json.loads(r.getMessage()) for r in caplog.records)
    assert plain["requestParameters"]["Password"] == HIDDEN
    assert written == json.loads(json.dumps(redact(built)))


def test_sink_builds_nothing_when_the_logger_drops_info(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(dict[str, Any]):
        def items(self) -> Any:
            raise AssertionError("serialised although the line is dropped")

    with caplog.at_level(logging.WARNING, logger="broker.audit"):
        LoggingAuditSink()(Exploding())
    assert caplog.records == []


def _reference_redact(value: Any) -> Any:
    """redact before its exact-type shortcuts (the behaviour they must keep)."""
    import hashlib
    import re
    from collections.abc import Mapping
    from datetime import UTC, datetime

    from broker.service.audit import MAX_STRING, SENSITIVE_MEMBERS

    jwt = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")

    def scalar(v: Any) -> Any:
        if v is None or isinstance(v, bool | int | float):
            return v
        if isinstance(v, datetime):
            return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(v, bytes | bytearray | memoryview):
            return f"<{len(v)} bytes>"
        text = v if isinstance(v, str) else str(v)
        if jwt.search(text):
            return HIDDEN
        if len(text) > MAX_STRING:
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            return f"<{len(text)} characters, sha256 {digest}>"
        return text

    if isinstance(value, Mapping):
        return {str(k): (HIDDEN if str(k).lower() in SENSITIVE_MEMBERS and v is not None else _reference_redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reference_redact(v) for v in value]
    return scalar(value)


def _random_value(rng: Any, depth: int = 0) -> Any:
    import enum
    from collections import OrderedDict

    class Color(enum.StrEnum):
        RED = "eyJab.eyJcd.ef"

    leaves = [None, True, 3, 2.5, "plain", JWT, "x" * 17_000, "eyJ not a jwt", b"raw", NOW, Color.RED, 10**30]
    if depth > 3 or rng.random() < 0.4:
        return rng.choice(leaves)
    names = ["SessionToken", "password", "Name", 7, "WebIdentityToken", "nested", "TokenCode"]
    shape = rng.choice(["dict", "ordered", "list", "tuple"])
    if shape in ("dict", "ordered"):
        items = [(rng.choice(names), _random_value(rng, depth + 1)) for _ in range(rng.randint(0, 4))]
        return dict(items) if shape == "dict" else OrderedDict(items)
    items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return items if shape == "list" else tuple(items)


@pytest.mark.parametrize("seed", range(300))
def test_redact_shortcuts_change_nothing(seed: int) -> None:
    import random

    value = _random_value(random.Random(seed))
    assert redact(value) == _reference_redact(value)


@pytest.mark.parametrize("seed", range(20))
def test_event_id_is_uuid5(seed: int) -> None:
    import random
    import uuid

    from broker.service.audit import _EVENT_NS, event_id

    rng = random.Random(seed)
    for _ in range(200):
        name = "".join(rng.choice("abc-/é\u2028😀0123") for _ in range(rng.randint(0, 60)))
        assert event_id(name) == str(uuid.uuid5(_EVENT_NS, name))
