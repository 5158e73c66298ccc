"""Query codec: decode + encode of a realistic CreateRole, against botocore doing the mirror-image work.

broker's side of one request: form body → validated params (``QueryCodec.decode_request``) and result →
XML (``encode_response``). The peer, on the same inputs in the same run, is botocore's client side of the same
exchange: ``QuerySerializer`` (params → form, with its parameter validation) and ``QueryParser`` (XML →
dict, plus ``json_decode_policies``). Run::

    .venv/bin/python -m benchmarks.query_codec [--quick]
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.handlers import json_decode_policies

from benchmarks._stats import time_calls
from broker.api.query import QueryCodec

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": PROVIDER},
    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                  "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"}}}]})
PARAMS: dict[str, Any] = {
    "RoleName": "ci-deploy", "Path": "/ci/", "AssumeRolePolicyDocument": POLICY, "Description": "CI deploy role",
    "MaxSessionDuration": 3600, "PermissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
    "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "env", "Value": "prod"}, {"Key": "cost", "Value": "42"}],
}
RESULT = {"Role": {
    "Path": "/ci/", "RoleName": "ci-deploy", "RoleId": "AROA3XFRBF535PLBIFPI4",
    "Arn": "arn:aws:iam::123456789012:role/ci/ci-deploy", "CreateDate": datetime(2026, 11, 28, tzinfo=UTC),
    "AssumeRolePolicyDocument": POLICY, "Description": "CI deploy role", "MaxSessionDuration": 3600,
    "PermissionsBoundary": {"PermissionsBoundaryType": "Policy",
                            "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/boundary"},
    "Tags": PARAMS["Tags"],
}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    budget, cap = (1.0, 5_000) if args.quick else (5.0, 50_000)

    model = botocore.session.get_session().get_service_model("iam").operation_model("CreateRole")
    serializer = botocore.serialize.create_serializer("query", include_validation=True)
    body = urlencode(serializer.serialize_to_request(PARAMS, model)["body"]).encode()
    codec = QueryCodec(max_body_bytes=256 * 1024)
    op, params = codec.decode_request(body, "", "application/x-www-form-urlencoded; charset=utf-8")
    assert params == PARAMS
    xml = codec.encode_response(op, RESULT, "b1f2c3d4-0000-4000-8000-000000000000")
    query_parser = botocore.parsers.create_parser("query")

    def broker_round(_: int) -> object:
        o, _params = codec.decode_request(body, "", "application/x-www-form-urlencoded; charset=utf-8")
        return codec.encode_response(o, RESULT, "b1f2c3d4-0000-4000-8000-000000000000")

    def broker_decode(_: int) -> object:
        return codec.decode_request(body, "", "application/x-www-form-urlencoded; charset=utf-8")

    def broker_encode(_: int) -> object:
        return codec.encode_response(op, RESULT, "b1f2c3d4-0000-4000-8000-000000000000")

    def botocore_round(_: int) -> object:
        urlencode(serializer.serialize_to_request(PARAMS, model)["body"])
        parsed = query_parser.parse({"body": xml, "headers": {}, "status_code": 200}, model.output_shape)
        json_decode_policies(parsed, model)
        return parsed

    inputs = list(range(64))
    rows = [
        ("broker decode+encode", time_calls(broker_round, inputs, budget_s=budget, max_samples=cap)),
        ("broker decode", time_calls(broker_decode, inputs, budget_s=budget, max_samples=cap)),
        ("broker encode", time_calls(broker_encode, inputs, budget_s=budget, max_samples=cap)),
        ("botocore serialize+parse", time_calls(botocore_round, inputs, budget_s=budget, max_samples=cap)),
    ]
    print(f"CreateRole, body {len(body)} B, response {len(xml)} B")
    for name, t in rows:
        print(f"{name:28s} n={t.n:6d}  p50 {t.p50_us:8.1f} µs  p99 {t.p99_us:8.1f} µs  mean {t.mean_us:8.1f} µs")
    print(f"ratio broker/botocore (p50): {rows[0][1].p50_us / rows[3][1].p50_us:.2f}")


if __name__ == "__main__":
    main()
