"""``broker explain --token FILE --role ARN [--session-name NAME] [--no-verify]``: the whole evaluation.

For an administrator: which provider the token's ``iss`` selects, whether its signature and claims pass
(keys fetched live from the issuer, as the server would), every condition key the token yields, and the
role trust policy's decision with every statement and clause that failed and the request values. The token
itself is never printed. ``--no-verify`` skips the signature and time checks (to explain a token whose IdP
is unreachable from here); the output says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["cmd_explain", "explain_token", "register"]


def explain_token(settings: Any, token: str, role_arn: str, session_name: str, *, verify: bool = True) -> str:
    from broker import policy
    from broker.arn import ArnFactory
    from broker.bootstrap import load_master_key, open_store
    from broker.clock import SystemClock
    from broker.credentials.envelope import Envelope
    from broker.errors import BrokerError
    from broker.federation.oidc.claims import context_keys, key_prefix
    from broker.federation.oidc.jose import parse_token
    from broker.federation.oidc.profiles import lint_trust
    from broker.ids import SystemEntropy
    from broker.principal import CallContext
    from broker.service.authorize import PolicyAuthorizer
    from broker.service.env import OpEnv
    from broker.service.oidc_keys import build_web_identity
    from broker.service.web_identity import ASSUME_ACTION, trust_context, verify_web_identity
    from broker.trust import evaluate_trust, federated_principal

    lines: list[str] = []
    store = open_store(settings)
    clock = SystemClock()
    entropy = SystemEntropy()
    arns = ArnFactory(account=settings.account_id, partition=settings.partition)
    services, _cache = build_web_identity(settings, clock, keyring=None)  # type: ignore[arg-type]
    try:
        with store.transaction() as tx:
            call = CallContext(request_id="explain", now=clock.now())
            env = OpEnv(tx, call, PolicyAuthorizer(store), arns, entropy,
                        Envelope(load_master_key(settings, entropy), entropy))
            try:
                unverified = parse_token(token)
            except BrokerError as error:
                return f"Token refused before any key was used: {error.code}: {error.message} ({error.detail})"
            lines.append(f"Issuer: {unverified.issuer}  alg {unverified.algorithm}  kid {unverified.key_id}")
            provider = tx.providers.get_oidc_by_url(unverified.issuer)
            if provider is None:
                return "\n".join([*lines, "No OIDC provider is registered with exactly this issuer URL."])
            lines.append(f"Provider: {provider.arn}  client ids {list(provider.client_ids)}")
            if verify:
                try:
                    identity = verify_web_identity(env, services, token)
                except BrokerError as error:
                    return "\n".join([*lines, f"Token refused: {error.code}: {error.message}", f"  {error.detail}"])
                lines.append("Signature and claims: verified")
                keys = dict(identity.context)
                identity_arn, subject = identity.provider_arn, identity.subject
            else:
                lines.append("Signature and claims: NOT VERIFIED (--no-verify)")
                aud = unverified.payload.get("aud")
                audience = aud if isinstance(aud, str) else next(iter(aud or []), "")
                keys = context_keys(key_prefix(unverified.issuer), unverified.payload, str(audience))
                identity_arn, subject = provider.arn, str(unverified.payload.get("sub"))
            lines.append(f"Subject: {subject}")
            lines.append("Condition keys from the token:")
            lines.extend(f"  {k} = {json.dumps(v)}" for k, v in sorted(keys.items()))
            role_name = role_arn.rsplit("/", 1)[-1]
            role = tx.iam.get_role(role_name)
            if role is None or arns.role(role.name, role.path) != role_arn:
                return "\n".join([*lines, f"Role {role_arn} does not exist in this account."])
            trust = policy.compile_policy(role.trust_policy, policy_id=f"{role_arn}#trust", kind="trust")
            if verify:
                context = trust_context(env, identity, session_name, dict(tx.iam.get_tags("role", role.id)))
            else:
                context = dict(keys, **{"aws:FederatedProvider": identity_arn, "sts:RoleSessionName": session_name})
            for decision in evaluate_trust(trust, role_arn=role_arn, principal=federated_principal(identity_arn,
                                           arns.account), actions=[ASSUME_ACTION], context=context):
                lines.append(decision.trace())
                if not decision.allowed:
                    lines.append(f"Caller would see: AccessDenied: {decision.public_reason()}")
            for finding in lint_trust(role.trust_policy):
                lines.append(f"Lint {finding.severity} {finding.code} at {finding.pointer}: {finding.message}")
    finally:
        store.dispose()
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from broker.config import Settings

    token = Path(args.token).read_text(encoding="utf-8").strip()
    out.write(explain_token(Settings(), token, args.role, args.session_name, verify=not args.no_verify) + "\n")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("explain", help="explain how a web identity token meets a role's trust policy")
    parser.add_argument("--token", required=True, help="file holding the ID token (never printed)")
    parser.add_argument("--role", required=True, help="role ARN")
    parser.add_argument("--session-name", default="explain")
    parser.add_argument("--no-verify", action="store_true", help="skip signature and time checks")
    parser.set_defaults(func=cmd_explain)
