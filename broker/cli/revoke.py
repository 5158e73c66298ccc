"""``broker revoke …``: revoke temporary credentials from the operator's shell.

::

    broker revoke role NAME                 every session of the role issued before now (AWSRevokeOlderSessions)
    broker revoke session SESSION_ID        one session
    broker revoke subject PROVIDER SUBJECT  every session of one federated subject
    broker revoke provider PROVIDER         every session federated through the provider
    broker revoke list                      the stored revocations

The command acts as the root user directly on the configured store (``BROKER_DATABASE_URL`` /
``BROKER_HOME``), like ``broker init``; each call leaves an audit event. Running nodes pick the
revocation up through PostgreSQL ``NOTIFY`` or their next poll (about a second). Output is one JSON
document on stdout; a refusal prints ``Code: message`` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``revoke`` to the ``broker`` command's subparsers."""
    revoke = subparsers.add_parser("revoke", help="revoke temporary credentials (role, session, subject, provider)")
    scopes = revoke.add_subparsers(dest="revoke_scope", required=True)
    p = scopes.add_parser("role", help="revoke every session of a role issued before now")
    p.add_argument("role_name")
    p = scopes.add_parser("session", help="revoke one session by its id")
    p.add_argument("session_id")
    p = scopes.add_parser("subject", help="revoke every session of one federated subject")
    p.add_argument("provider", help="provider ARN (or a built-in IdP such as accounts.google.com)")
    p.add_argument("subject")
    p = scopes.add_parser("provider", help="revoke every session federated through a provider")
    p.add_argument("provider")
    scopes.add_parser("list", help="list stored revocations")
    revoke.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from broker.config import Settings

    scope = str(args.revoke_scope)
    params: dict[str, Any] = {"scope": scope}
    for member in ("role_name", "session_id", "provider", "subject"):
        if getattr(args, member, None) is not None:
            params[member] = getattr(args, member)
    return run(Settings(), scope, params)


def run(
    settings: Any, scope: str, params: Mapping[str, Any], out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run one revocation (or ``list``) as root against ``settings``' store; returns the exit status."""
    from broker.api.admin import OPERATIONS
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

    entropy = SystemEntropy()
    store = open_store(settings)
    try:
        arns = ArnFactory(account=settings.account_id, partition=settings.partition)
        dispatcher = Dispatcher(
            store=store,
            operations=OPERATIONS,
            authorizer=RootOnlyAuthorizer(),
            arns=arns,
            entropy=entropy,
            envelope=Envelope(load_master_key(settings, entropy), entropy),
            audit=build_event,
        )
        root = Principal(
            kind="root",
            arn=arns.root(),
            account=arns.account,
            user_id=arns.account,
            name=arns.account,
            identity_arn=arns.root(),
        )
        call = CallContext(
            request_id=request_id(entropy), now=SystemClock().now(), principal=root, user_agent="broker-cli"
        )
        action = "ListRevocations" if scope == "list" else "RevokeSessions"
        try:
            result = dispatcher.run(call, "broker", action, params)
        except BrokerError as error:
            print(f"{error.code}: {error.message}", file=err)
            return 1
        print(json.dumps(result, indent=2), file=out)
        return 0
    finally:
        store.dispose()
