"""POST /v1/authorize on a running broker: a service's role asks about requests signed by boto3 credentials."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import ACCOUNT, ROOT_KEY, ROOT_SECRET, Server

pytestmark = pytest.mark.e2e


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _assume(server: Server, key: dict[str, str], role: str, session: str) -> dict[str, Any]:
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    out: dict[str, Any] = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                          RoleSessionName=session)["Credentials"]
    return out


@pytest.fixture(scope="module")
def world(server: Server) -> dict[str, dict[str, Any]]:
    iam = server.client()
    iam.create_user(UserName="ops")
    iam.put_user_policy(UserName="ops", PolicyName="assume", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}))
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="gateway", PolicyName="ask", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "broker:Authorize", "Resource": "arn:aws:orders:::order/*"}))
    iam.create_role(RoleName="client", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="client", PolicyName="orders", PolicyDocument=_doc(
        {"Sid": "Read", "Effect": "Allow", "Action": "orders:Get*", "Resource": "arn:aws:orders:::order/*"},
        {"Sid": "Fenced", "Effect": "Deny", "Action": "orders:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
    ))
    return {"gateway": _assume(server, key, "gateway", "gw"), "client": _assume(server, key, "client", "c1")}


def _described(creds: dict[str, Any], body: bytes = b'{"q":1}') -> dict[str, Any]:
    request = AWSRequest(method="POST", url="https://orders.example/orders/7?expand=items", data=body)
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]), "orders",
              "eu-west-1").add_auth(request)
    return {"method": "POST", "path": "/orders/7", "query": "expand=items",
            "headers": [[k, v] for k, v in request.headers.items()] + [["Host", "orders.example"]],
            "body_sha256": hashlib.sha256(body).hexdigest()}


def _ask(server: Server, question: dict[str, Any], *, key: str, secret: str, token: str | None = None) -> Any:
    url = server.url + "/v1/authorize"
    data = json.dumps(question).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret, token), "broker", "us-east-1").add_auth(request)
    return httpx.post(url, content=data, headers=dict(request.headers.items()), timeout=30)


def _as_gateway(server: Server, world: dict[str, dict[str, Any]], question: dict[str, Any]) -> Any:
    gw = world["gateway"]
    return _ask(server, question, key=gw["AccessKeyId"], secret=gw["SecretAccessKey"], token=gw["SessionToken"])


def test_decisions(server: Server, world: dict[str, dict[str, Any]]) -> None:
    question = {"action": "orders:GetOrder", "resource": "arn:aws:orders:::order/7", "service": "orders",
                "request": _described(world["client"]), "source_ip": "10.1.2.3", "secure_transport": True}
    allowed = _as_gateway(server, world, question)
    assert allowed.status_code == 200, allowed.text
    body = allowed.json()
    assert body["decision"] == "Allow"
    assert body["principal"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/client/c1"
    assert body["principal"]["access_key_id"] == world["client"]["AccessKeyId"]
    assert [(m["sid"], m["effect"]) for m in body["matched_statements"]] == [("Read", "Allow")]
    outside = _as_gateway(server, world, dict(question, source_ip="198.51.100.4")).json()
    assert outside["decision"] == "ExplicitDeny"
    assert [m["sid"] for m in outside["matched_statements"]] == ["Fenced"]
    no_ip = _as_gateway(server, world, {k: v for k, v in question.items() if k != "source_ip"}).json()
    assert no_ip["decision"] == "ExplicitDeny"  # unknown source address: the fence denies (fail closed)
    put = _as_gateway(server, world, dict(question, action="orders:PutOrder")).json()
    assert put["decision"] == "ImplicitDeny"
    assert put["matched_statements"] == []


def test_described_request_failures_are_decisions(server: Server, world: dict[str, dict[str, Any]]) -> None:
    forged = dict(world["client"], SecretAccessKey="B" * 40)
    question = {"action": "orders:GetOrder", "resource": "arn:aws:orders:::order/7", "request": _described(forged)}
    answer = _as_gateway(server, world, question)
    assert answer.status_code == 200
    assert answer.json()["decision"] == "ImplicitDeny"
    assert answer.json()["error"]["Code"] == "SignatureDoesNotMatch"
    tampered = _described(world["client"])
    tampered["body_sha256"] = hashlib.sha256(b"other").hexdigest()
    refused = _as_gateway(server, world, dict(question, request=tampered)).json()
    assert refused["error"]["Code"] == "SignatureDoesNotMatch"
    wrong_service = _as_gateway(server, world, dict(question, request=_described(world["client"]),
                                                    service="payments")).json()
    assert wrong_service["error"]["Code"] == "SignatureDoesNotMatch"


def test_who_may_ask(server: Server, world: dict[str, dict[str, Any]]) -> None:
    question = {"action": "orders:GetOrder", "resource": "arn:aws:orders:::order/7",
                "request": _described(world["client"])}
    client = world["client"]
    by_client = _ask(server, question, key=client["AccessKeyId"], secret=client["SecretAccessKey"],
                     token=client["SessionToken"])
    assert by_client.status_code == 403
    assert by_client.json()["Error"]["Code"] == "AccessDenied"
    other_resource = _as_gateway(server, world, dict(question, resource="arn:aws:billing:::invoice/1"))
    assert other_resource.status_code == 403
    by_root = _ask(server, question, key=ROOT_KEY, secret=ROOT_SECRET)
    assert by_root.status_code == 200
    assert by_root.json()["decision"] == "ExplicitDeny"  # no source_ip given: the fence denies
    unsigned = httpx.post(server.url + "/v1/authorize", json=question, timeout=30)
    assert unsigned.status_code == 403
    assert unsigned.json()["Error"]["Code"] == "MissingAuthenticationToken"
    bad = _as_gateway(server, world, {"action": "orders:GetOrder", "resource": "arn:aws:orders:::order/7"})
    assert bad.status_code == 400
    assert bad.json()["Error"] == {
        "Code": "ValidationError",
        "Message": "1 validation error detected: One of 'request' (SigV4) or 'bearer_token' is required.",
    }
