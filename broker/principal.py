"""Who is calling: the authenticated principal and the facts about one call.

Produced by authentication (``credentials/``), consumed by the service layer and turned into policy
request context by ``service/authorize``. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["CallContext", "Principal", "PrincipalKind"]

PrincipalKind = Literal["root", "user", "assumed-role", "federated-user", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``arn`` is what ``GetCallerIdentity`` reports; ``user_id`` is ``AIDA…`` for users, the account id
    for root and ``AROA…:SESSION`` for role sessions (IAM User Guide, "aws:userid" in
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable).
    ``identity_arn`` is the IAM entity whose policies apply (the role for a role session).
    """

    kind: PrincipalKind
    arn: str
    account: str
    user_id: str
    name: str
    identity_arn: str
    access_key_id: str | None = None
    session_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    mfa_present: bool = False
    mfa_authenticated_at: datetime | None = None
    token_issued_at: datetime | None = None
    source_identity: str | None = None
    temporary: bool = False
    # Temporary credentials (sealed session tokens, issue 4): the session behind the request.
    session_id: str | None = None
    session_policy: str | None = None
    session_policy_arns: tuple[str, ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    chain_depth: int = 0
    expires_at: datetime | None = None
    federated_provider: str | None = None
    federated_subject: str | None = None
    # Web-identity condition keys carried from the ID token into requests made with the session
    # (``PREFIX:sub``, ``:aud``, ``:amr``; credentials/session_token.py), each a string or a tuple of strings.
    federated_keys: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


@dataclass(frozen=True, slots=True)
class CallContext:
    """The facts of one API call that are not its parameters."""

    request_id: str
    now: datetime
    principal: Principal | None = None
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    secure_transport: bool = False
    region: str = "us-east-1"
