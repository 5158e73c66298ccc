"""A SigV4-signed client for broker's admin revocation API (service name ``broker``)."""

from __future__ import annotations

import json

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import ROOT_KEY, ROOT_SECRET, Server


def admin(
    server: Server,
    method: str,
    body: dict[str, object] | None = None,
    *,
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
) -> httpx.Response:
    """Call ``/admin/revocations`` signed as ``key``/``secret``."""
    url = server.url + "/admin/revocations"
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "broker", "us-east-1").add_auth(req)
    return httpx.request(method, url, content=data, headers=dict(req.headers.items()), timeout=30)
