"""``make demo`` (``python -m idp_fixtures.oidc.demo``): broker, the fixture OIDC and SAML IdPs, providers, roles.

One process runs everything a first-time user needs to get role credentials with the AWS CLI from an OIDC
token, on loopback and an embedded SQLite store in its own folder (``.broker-demo`` by default, created 0700):

1. the fixture IdP (``idp_fixtures.oidc``) at ``http://HOST:IDP_PORT`` (discovery, JWKS, token minting),
   in a thread;
2. the store initialised as ``broker serve`` does, then, as the root user on the store (like
   ``broker revoke``; audited), the IdP registered as an OIDC provider (client id ``sts.amazonaws.com``) and
   the role ``demo-ci`` whose trust policy admits its GitHub-shaped tokens for ``repo:octo-org/octo-repo:*``
   and whose permissions allow ``iam:Get*``/``iam:List*``. Re-running updates the trust policy;
3. an ID token in ``HOME/token.jwt`` (0600, one hour, renewed every five minutes, as a Kubernetes
   projected token is), and ``HOME/demo.env`` with the variables the AWS SDKs and CLI read
   (``AWS_ENDPOINT_URL_STS``, ``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE``, …; no secret in it);
4. the fixture SAML IdP (``idp_fixtures.saml``) at ``http://HOST:SAML_IDP_PORT`` in a thread, registered as
   the SAML provider ``fixture`` with the role ``demo-saml`` for its user ``alice``
   (:mod:`idp_fixtures.demo_saml`; browser login at ``/saml/login?provider=fixture``);
5. broker itself on ``http://HOST:PORT`` with ``BROKER_ALLOW_HTTP_ISSUERS=1`` (the demo IdP is plain HTTP
   on loopback; never set it for real issuers).

Then, in another shell (README "Try it")::

    source .broker-demo/demo.env
    aws sts get-caller-identity
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from idp_fixtures.demo_saml import register_saml, saml_urls, start_saml_idp
from idp_fixtures.oidc.idp import OidcIdp
from idp_fixtures.oidc.server import create_app as create_idp_app

__all__ = ["ROLE_NAME", "SUBJECT", "main", "register", "write_env"]

ROLE_NAME = "demo-ci"
SUBJECT = "repo:octo-org/octo-repo:ref:refs/heads/main"
AUDIENCE = "sts.amazonaws.com"
TOKEN_LIFETIME = 3600
RENEW_EVERY = 300


def _trust(provider_arn: str, prefix: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{prefix}:aud": AUDIENCE},
                      "StringLike": {f"{prefix}:sub": "repo:octo-org/octo-repo:*"}},
    }]})


def register(settings: Any, issuer: str, saml_metadata: str | None = None) -> str:
    """Initialise the store, register ``issuer`` and the demo role as root (idempotent); the role ARN.

    With ``saml_metadata`` (the fixture SAML IdP's), also the SAML provider and role of
    :func:`idp_fixtures.demo_saml.register_saml`.

    Root credentials are generated and printed once when the store is new, as ``broker serve`` does.
    """
    from broker.arn import ArnFactory
    from broker.bootstrap import ensure_home, load_master_key, open_store, seed_root
    from broker.clock import SystemClock
    from broker.credentials.envelope import Envelope
    from broker.errors import EntityAlreadyExists
    from broker.ids import SystemEntropy, request_id
    from broker.principal import CallContext, Principal
    from broker.service.audit import build_event
    from broker.service.dispatch import Dispatcher
    from broker.service.operations import all_operations
    from broker.service.ports import RootOnlyAuthorizer

    ensure_home(settings)
    entropy = SystemEntropy()
    store = open_store(settings)
    try:
        envelope = Envelope(load_master_key(settings, entropy), entropy)
        generated = seed_root(settings, store, envelope, SystemClock().now())
        if generated is not None:
            print("Root credentials (shown once; only needed for IAM administration):")
            print(f"  export AWS_ACCESS_KEY_ID={generated.access_key_id}")
            print(f"  export AWS_SECRET_ACCESS_KEY={generated.secret_access_key}")
        arns = ArnFactory(account=settings.account_id, partition=settings.partition)
        dispatcher = Dispatcher(
            store=store, operations=all_operations(allow_http_issuers=True), authorizer=RootOnlyAuthorizer(),
            arns=arns, entropy=entropy, envelope=envelope, audit=build_event,
        )
        root = Principal(kind="root", arn=arns.root(), account=arns.account, user_id=arns.account,
                         name=arns.account, identity_arn=arns.root())

        def run(action: str, **params: Any) -> Any:
            call = CallContext(request_id=request_id(entropy), now=SystemClock().now(), principal=root,
                               user_agent="broker-demo")
            return dispatcher.run(call, "iam", action, params)

        prefix = issuer.split("://", 1)[1]
        provider_arn = arns.oidc_provider(prefix)
        try:
            run("CreateOpenIDConnectProvider", Url=issuer, ClientIDList=[AUDIENCE])
        except EntityAlreadyExists:
            pass
        try:
            run("CreateRole", RoleName=ROLE_NAME, AssumeRolePolicyDocument=_trust(provider_arn, prefix),
                Description="broker demo: the fixture IdP's GitHub-shaped tokens for octo-org/octo-repo")
        except EntityAlreadyExists:
            run("UpdateAssumeRolePolicy", RoleName=ROLE_NAME, PolicyDocument=_trust(provider_arn, prefix))
        run("PutRolePolicy", RoleName=ROLE_NAME, PolicyName="read-iam", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}]}))
        if saml_metadata is not None:
            register_saml(run, saml_metadata, settings.effective_public_url, arns.account, arns.partition)
        return arns.role(ROLE_NAME, "/")
    finally:
        store.dispose()


def write_token(idp: OidcIdp, path: Path) -> None:
    token = idp.mint(now=int(time.time()), profile="github", sub=SUBJECT, lifetime=TOKEN_LIFETIME)
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    partial.replace(path)  # readers never see half a token


def write_env(home: Path, broker_url: str, role_arn: str, token_file: Path) -> Path:
    """``HOME/demo.env``: what ``source`` needs for the AWS CLI and SDKs to use the demo (no secrets)."""
    values = {
        "AWS_ENDPOINT_URL_STS": broker_url,
        "AWS_ENDPOINT_URL_IAM": broker_url,
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    path = home / "demo.env"
    path.write_text("".join(f"export {k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def _start_idp(idp: OidcIdp, host: str, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(create_idp_app(idp), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="demo-idp", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"the fixture IdP could not start on {host}:{port}")
        time.sleep(0.05)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m idp_fixtures.oidc.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="broker's port")
    parser.add_argument("--idp-port", type=int, default=9000, help="the fixture OIDC IdP's port")
    parser.add_argument("--saml-idp-port", type=int, default=8100, help="the fixture SAML IdP's port")
    parser.add_argument("--home", default=".broker-demo", help="the demo's BROKER_HOME (default .broker-demo)")
    args = parser.parse_args(argv)
    home = Path(args.home).resolve()
    os.environ.update(BROKER_HOME=str(home), BROKER_ALLOW_HTTP_ISSUERS="1")
    os.environ.pop("BROKER_DATABASE_URL", None)  # the demo always uses its own embedded store

    from broker.api.app import create_app
    from broker.config import Settings

    settings = Settings(host=args.host, port=args.port)
    issuer = f"http://{args.host}:{args.idp_port}"
    idp = OidcIdp(issuer=issuer, default_audience=AUDIENCE)
    idp_server = _start_idp(idp, args.host, args.idp_port)
    broker_url = settings.effective_public_url
    saml_idp = start_saml_idp(args.host, args.saml_idp_port, broker_url, settings.account_id, settings.partition)
    role_arn = register(settings, issuer, saml_idp.idp.metadata())
    token_file = home / "token.jwt"
    write_token(idp, token_file)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_EVERY):
            write_token(idp, token_file)

    threading.Thread(target=renew, name="demo-token", daemon=True).start()
    env_file = write_env(home, broker_url, role_arn, token_file)
    print(f"fixture OIDC IdP: {issuer}   provider: {issuer.split('://', 1)[1]}   role: {role_arn}")
    print(f"broker: {broker_url}   (store: {home})")
    print("In another shell:")
    print(f"  source {env_file}")
    print("  aws sts get-caller-identity")
    print("  aws iam list-roles --query 'Roles[].Arn'")
    print(f"A fresh token any time: curl -s -X POST {issuer}/admin/token -H 'content-type: application/json' "
          f"-d '{{\"profile\": \"github\"}}'")
    sp_login, idp_login = saml_urls(broker_url, saml_idp.url)
    print(f"fixture SAML IdP: {saml_idp.url}   provider: fixture   role: demo-saml   (user alice)")
    print(f"  SAML login in a browser: {sp_login}   or IdP-initiated: {idp_login}")
    print("demo ready", flush=True)
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        stop.set()
        idp_server.should_exit = True
        saml_idp.stop()


if __name__ == "__main__":
    main()
