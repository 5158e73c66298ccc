"""``broker login``: sign in with an OIDC provider from a terminal and write an AWS profile.

1. The IdP's discovery document says what it offers. With a ``device_authorization_endpoint`` the device
   authorization grant is used (RFC 8628: the user opens the printed URL on any device and enters the code);
   otherwise, or with ``--no-device``, a loopback redirect (RFC 8252 §7.3: a one-shot listener on ``127.0.0.1`` and
   an ephemeral port, authorization code with PKCE S256, ``state`` checked) and the URL is opened in a browser.
2. Without ``--role-arn`` broker lists the roles whose trust policies admit the token (``POST /oidc/roles``) and
   the user picks one. The ID token is exchanged at broker's ``POST /oauth2/token`` (RFC 8693) for the role's AWS
   credentials.
3. The credentials go to ``~/.aws/credentials`` under ``[PROFILE]`` and the profile's region and broker endpoints to
   ``~/.aws/config`` (``services`` section, "Service-specific endpoints",
   https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html). Other profiles are kept. Both
   files are written 0600 (their folder 0700), through a temporary file renamed into place.
"""

from __future__ import annotations

import argparse
import configparser
import http.server
import os
import re
import secrets
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TextIO
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from broker.api.web.oidc_client import Endpoints, OidcClient, OidcClientError
from broker.cli.credential_process import ExchangeError, exchange_id_token
from broker.clock import SystemClock

__all__ = [
    "LoginError",
    "admitted_roles",
    "choose_role",
    "cmd_login",
    "loopback_login",
    "register",
    "session_name_from",
    "write_profile",
]

LOOPBACK_TIMEOUT = 300.0


class LoginError(Exception):
    """The login failed; ``str()`` is safe to print."""


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(temporary, path)
    os.chmod(path, 0o600)


def _read_ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    if path.exists():
        parser.read(path, encoding="utf-8")
    return parser


def _render(parser: configparser.RawConfigParser) -> str:
    from io import StringIO

    buffer = StringIO()
    parser.write(buffer)
    return buffer.getvalue()


def write_profile(
    *, credentials_file: Path, config_file: Path, profile: str, creds: dict[str, Any], endpoint: str, region: str,
) -> None:
    """Store ``creds`` as ``[profile]`` and point the profile's STS and IAM endpoints at broker."""
    credentials = _read_ini(credentials_file)
    if not credentials.has_section(profile):
        credentials.add_section(profile)
    credentials.set(profile, "aws_access_key_id", str(creds["AccessKeyId"]))
    credentials.set(profile, "aws_secret_access_key", str(creds["SecretAccessKey"]))
    credentials.set(profile, "aws_session_token", str(creds["SessionToken"]))
    credentials.set(profile, "x_broker_expiration", str(creds.get("Expiration", "")))
    _write_private(credentials_file, _render(credentials))
    config = _read_ini(config_file)
    section = "default" if profile == "default" else f"profile {profile}"
    services = f"broker-{profile}"
    if not config.has_section(section):
        config.add_section(section)
    config.set(section, "region", region)
    config.set(section, "services", services)
    service_section = f"services {services}"
    if not config.has_section(service_section):
        config.add_section(service_section)
    endpoint = endpoint.rstrip("/")
    config.set(service_section, "sts", f"\nendpoint_url = {endpoint}")
    config.set(service_section, "iam", f"\nendpoint_url = {endpoint}")
    _write_private(config_file, _render(config))


class _Callback(http.server.BaseHTTPRequestHandler):
    result: ClassVar[dict[str, str]] = {}
    done: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self.send_error(404)
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        type(self).result = query
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"broker login: you may close this window and return to the terminal.\n")
        type(self).done.set()

    def log_message(self, format: str, *args: Any) -> None:
        return


def loopback_login(
    client: OidcClient, endpoints: Endpoints, client_id: str, *, err: TextIO, open_browser: bool = True,
    timeout: float = LOOPBACK_TIMEOUT,
) -> str:
    """Authorization code + PKCE through a one-shot loopback listener; the ID token."""
    handler: type[_Callback] = type("Callback", (_Callback,), {"result": {}, "done": threading.Event()})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    state, nonce, verifier = secrets.token_hex(16), secrets.token_hex(16), secrets.token_urlsafe(48)
    url = OidcClient.authorization_url(
        endpoints, client_id=client_id, redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        print(f"Open this URL to sign in:\n  {url}", file=err, flush=True)
        if open_browser:
            webbrowser.open(url)
        if not handler.done.wait(timeout):
            raise LoginError("timed out waiting for the browser to come back")
    finally:
        server.shutdown()
        server.server_close()
    result: dict[str, str] = handler.result
    if not secrets.compare_digest(result.get("state", ""), state):
        raise LoginError("the state returned by the identity provider does not match")
    if "error" in result:
        raise LoginError(f"the identity provider refused: {result['error']}")
    if "code" not in result:
        raise LoginError("the identity provider returned no code")
    return client.exchange_code(
        endpoints, client_id=client_id, code=result["code"], redirect_uri=redirect_uri, code_verifier=verifier
    )


def device_login(client: OidcClient, endpoints: Endpoints, client_id: str, *, err: TextIO) -> str:
    device = client.start_device(endpoints, client_id=client_id)
    where = device.verification_uri_complete or device.verification_uri
    print(f"To sign in, open {where} and enter the code {device.user_code}", file=err, flush=True)
    return client.poll_device(endpoints, device, client_id=client_id, sleep=time.sleep,
                              monotonic=SystemClock().monotonic)


def session_name_from(id_token: str) -> str | None:
    """A RoleSessionName from the ID token's ``email``, ``preferred_username`` or ``sub`` (as the browser login).

    Read without verifying: the name is only a label the caller could choose anyway; broker verifies the token.
    """
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    for claim in ("email", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            name = re.sub(r"[^\w+=,.@-]", "-", value, flags=re.ASCII)[:64]
            return name if len(name) >= 2 else None
    return None


def admitted_roles(endpoint: str, id_token: str, client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """broker's ``POST /oidc/roles``: the roles whose trust policies admit ``id_token``."""
    http = client or httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False)
    try:
        response = http.post(endpoint.rstrip("/") + "/oidc/roles", data={"subject_token": id_token})
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise LoginError(f"could not list roles at {endpoint}") from None
    finally:
        if client is None:
            http.close()
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("roles"), list):
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        raise LoginError(f"could not list roles: {detail or response.status_code}")
    roles: list[dict[str, Any]] = body["roles"]
    return roles


def choose_role(roles: list[dict[str, Any]], *, err: TextIO, read: Callable[[str], str] = input) -> str:
    """The only role, or the one the user picks by number."""
    if not roles:
        raise LoginError("no role's trust policy admits you")
    if len(roles) == 1:
        return str(roles[0]["RoleArn"])
    for i, role in enumerate(roles, 1):
        print(f"  {i}. {role['RoleArn']} (up to {role['MaxSessionDuration']} s)", file=err)
    answer = read("Choose a role [1]: ").strip() or "1"
    if not answer.isdigit() or not 1 <= int(answer) <= len(roles):
        raise LoginError(f"no role number {answer}")
    return str(roles[int(answer) - 1]["RoleArn"])


def cmd_login(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    client = OidcClient(allow_http=args.allow_http)
    try:
        endpoints = client.discover(args.provider)
        if endpoints.device_authorization_endpoint and not args.no_device:
            token = device_login(client, endpoints, args.client_id, err=err)
        else:
            token = loopback_login(client, endpoints, args.client_id, err=err, open_browser=not args.no_browser)
        role_arn = args.role_arn or choose_role(admitted_roles(args.endpoint, token), err=err)
        creds = exchange_id_token(args.endpoint, token, role_arn, duration_seconds=args.duration_seconds,
                                  session_name=args.role_session_name or session_name_from(token))
    except (OidcClientError, ExchangeError, LoginError) as exc:
        print(f"broker login: {exc}", file=err)
        return 1
    finally:
        client.close()
    home = Path.home()
    credentials_file = Path(args.credentials_file or os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
                            or home / ".aws" / "credentials")
    config_file = Path(args.config_file or os.environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config")
    write_profile(credentials_file=credentials_file, config_file=config_file, profile=args.profile, creds=creds,
                  endpoint=args.endpoint, region=args.region)
    print(f"Wrote profile [{args.profile}] to {credentials_file} (expires {creds.get('Expiration')}).", file=out)
    return 0


def register(sub: Any) -> None:
    """Add ``login`` to ``broker``'s sub-commands."""
    p = sub.add_parser("login", help="sign in with an OIDC provider and write an AWS profile")
    p.add_argument("--provider", required=True, help="the OIDC issuer URL")
    p.add_argument("--client-id", required=True, help="broker's client id at the IdP (one of the provider's)")
    p.add_argument("--role-arn", default=None, help="default: pick among the roles that admit you")
    p.add_argument("--endpoint", required=True, help="broker's base URL")
    p.add_argument("--profile", default="broker")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--duration-seconds", type=int, default=None)
    p.add_argument("--role-session-name", default=None, help="default: the token's email, username or sub")
    p.add_argument("--no-device", action="store_true", help="use the loopback redirect even if the IdP offers RFC 8628")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--allow-http", action="store_true", help="accept an http:// issuer (local testing only)")
    p.add_argument("--credentials-file", default=None)
    p.add_argument("--config-file", default=None)
    p.set_defaults(func=cmd_login)
