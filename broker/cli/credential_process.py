"""``broker credential-process``: print AWS credentials for the ``credential_process`` setting of an AWS profile.

AWS CLI/SDK contract ("Sourcing credentials with an external process",
https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html and the SDKs and Tools Reference
Guide, "Process credential provider", https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html):
the program prints to stdout one JSON object ``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
"Expiration"}`` (ISO 8601) and exits 0; on failure it writes a message to stderr and exits non-zero.

The credentials come from broker's token exchange (``POST /oauth2/token``, RFC 8693) with an OIDC ID token read
from a file on every call (a Kubernetes projected service-account token, a CI job's token), so the token file may be
rotated underneath. Example profile::

    [profile ci]
    credential_process = broker credential-process --endpoint https://broker.example \
        --role-arn arn:aws:iam::123456789012:role/ci --token-file /var/run/secrets/tokens/broker
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

__all__ = ["ExchangeError", "cmd_credential_process", "exchange_id_token", "process_json", "register"]

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
AWS_CREDENTIALS = "urn:broker:token-type:aws-credentials"
MAX_TOKEN_FILE = 64 * 1024


class ExchangeError(Exception):
    """The token exchange failed; ``str()`` is safe to print (no token, no secret)."""


def exchange_id_token(
    endpoint: str,
    id_token: str,
    role_arn: str,
    *,
    duration_seconds: int | None = None,
    session_name: str | None = None,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """The ``credentials`` member of broker's token-exchange answer for ``id_token`` and ``role_arn``."""
    form = {
        "grant_type": GRANT,
        "subject_token": id_token,
        "subject_token_type": ID_TOKEN,
        "audience": role_arn,
        "requested_token_type": AWS_CREDENTIALS,
    }
    if duration_seconds is not None:
        form["duration_seconds"] = str(duration_seconds)
    if session_name:
        form["role_session_name"] = session_name
    http = client or httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False)
    try:
        response = http.post(endpoint.rstrip("/") + "/oauth2/token", data=form)
    except httpx.HTTPError as exc:
        raise ExchangeError(f"could not reach {endpoint}: {type(exc).__name__}") from None
    finally:
        if client is None:
            http.close()
    try:
        body = response.json()
    except ValueError:
        raise ExchangeError(f"{endpoint} answered HTTP {response.status_code} without JSON") from None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        code = body.get("aws_error_code", "") if isinstance(body, dict) else ""
        raise ExchangeError(f"token exchange refused: {error} {code}: {detail}".replace("  ", " ").strip())
    creds = body.get("credentials") if isinstance(body, dict) else None
    if not isinstance(creds, dict) or not {"AccessKeyId", "SecretAccessKey", "SessionToken"} <= creds.keys():
        raise ExchangeError(f"{endpoint} answered without AWS credentials")
    return creds


def process_json(creds: dict[str, Any]) -> str:
    """The ``credential_process`` document (Version 1)."""
    return json.dumps({
        "Version": 1,
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "SessionToken": creds["SessionToken"],
        "Expiration": creds["Expiration"],
    })


def _read_token(path: Path) -> str:
    try:
        data = path.read_bytes()[: MAX_TOKEN_FILE + 1]
    except OSError as exc:
        raise ExchangeError(f"cannot read the token file {path}: {exc.strerror}") from None
    if len(data) > MAX_TOKEN_FILE:
        raise ExchangeError(f"the token file {path} is larger than {MAX_TOKEN_FILE} bytes")
    token = data.decode("utf-8", "replace").strip()
    if not token:
        raise ExchangeError(f"the token file {path} is empty")
    return token


def cmd_credential_process(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        token = _read_token(Path(args.token_file))
        creds = exchange_id_token(
            args.endpoint, token, args.role_arn, duration_seconds=args.duration_seconds,
            session_name=args.role_session_name,
        )
    except ExchangeError as exc:
        print(f"broker credential-process: {exc}", file=err)
        return 1
    print(process_json(creds), file=out)
    return 0


def register(sub: Any) -> None:
    """Add ``credential-process`` to ``broker``'s sub-commands."""
    p = sub.add_parser("credential-process", help="print credential_process JSON from an exchanged ID token")
    p.add_argument("--endpoint", required=True, help="broker's base URL (BROKER_PUBLIC_URL)")
    p.add_argument("--role-arn", required=True)
    p.add_argument("--token-file", required=True, help="file holding an OIDC ID token (read on every call)")
    p.add_argument("--duration-seconds", type=int, default=None)
    p.add_argument("--role-session-name", default=None)
    p.set_defaults(func=cmd_credential_process)
