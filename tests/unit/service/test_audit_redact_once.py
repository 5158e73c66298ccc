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
