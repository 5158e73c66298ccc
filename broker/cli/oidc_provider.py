"""``broker oidc-provider …``: pinned JWKS for OIDC providers whose keys cannot (or must not) be fetched.

::

    broker oidc-provider pin-jwks ARN FILE   pin the JWK Set in FILE ('-': stdin) as the provider's keys
    broker oidc-provider unpin-jwks ARN      fetch the provider's keys from its issuer again
    broker oidc-provider show ARN            url, thumbprints, and where the keys come from

Like ``broker revoke``, the command acts as the root user directly on the configured store
(``BROKER_DATABASE_URL`` / ``BROKER_HOME``) and leaves an audit event; running nodes see the change with their
next provider lookup (the ``providers`` change counter moves). Output is one JSON document on stdout; a refusal
prints ``Code: message`` on stderr and exits 1. The provider itself is created with the IAM API
(``aws iam create-open-id-connect-provider``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

__all__ = ["register", "run"]

_ACTIONS = {
    "pin-jwks": "PutOpenIDConnectProviderJwks",
    "unpin-jwks": "DeleteOpenIDConnectProviderJwks",
    "show": "DescribeOpenIDConnectProviderKeys",
}


def register(subparsers: Any) -> None:
    """Add ``oidc-provider`` to the ``broker`` command's subparsers."""
    top = subparsers.add_parser("oidc-provider", help="pinned JWKS of OIDC providers")
    verbs = top.add_subparsers(dest="oidc_verb", required=True)
    p = verbs.add_parser("pin-jwks", help="pin a JWK Set as the provider's keys (never fetched then)")
    p.add_argument("arn", help="the provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH)")
    p.add_argument("file", help="the JWK Set document, or - for stdin")
    p = verbs.add_parser("unpin-jwks", help="fetch the provider's keys from its issuer again")
    p.add_argument("arn")
    p = verbs.add_parser("show", help="the provider's thumbprints and key source")
    p.add_argument("arn")
    top.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from broker.config import Settings

    params: dict[str, Any] = {"OpenIDConnectProviderArn": args.arn}
    if args.oidc_verb == "pin-jwks":
        params["Jwks"] = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    return run(Settings(), _ACTIONS[args.oidc_verb], params)


def run(
    settings: Any, action: str, params: Mapping[str, Any], out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run one pinned-JWKS operation as root against ``settings``' store; returns the exit status."""
    from broker.arn import ArnFactory
    from broker.bootstrap import load_master_key, open_store
    from broker.clock import SystemClock
    from broker.credentials.envelope import Envelope
    from broker.errors import BrokerError
    from broker.ids import SystemEntropy, request_id
    from broker.principal import CallContext, Principal
    from broker.service.audit import build_event
    from broker.service.dispatch import Dispatcher
    from broker.service.ports import RootOnlyAuthorizer
    from broker.service.providers.oidc import PINNED_JWKS_OPERATIONS

    entropy = SystemEntropy()
    store = open_store(settings)
    try:
        arns = ArnFactory(account=settings.account_id, partition=settings.partition)
        dispatcher = Dispatcher(
            store=store, operations=PINNED_JWKS_OPERATIONS, authorizer=RootOnlyAuthorizer(), arns=arns,
            entropy=entropy, envelope=Envelope(load_master_key(settings, entropy), entropy), audit=build_event,
        )
        root = Principal(kind="root", arn=arns.root(), account=arns.account, user_id=arns.account,
                         name=arns.account, identity_arn=arns.root())
        call = CallContext(request_id=request_id(entropy), now=SystemClock().now(), principal=root,
                           user_agent="broker-cli")
        try:
            result = dispatcher.run(call, "iam", action, params)
        except BrokerError as error:
            print(f"{error.code}: {error.message}", file=err)
            return 1
        print(json.dumps(dict(result), indent=2), file=out)
        return 0
    finally:
        store.dispose()
