"""Minting temporary credentials: an ``ASIA…`` key id, a 40-character secret and a sealed session token.

Shapes from the AWS STS API Reference, Data Types, "Credentials"
(https://docs.aws.amazon.com/STS/latest/APIReference/API_Credentials.html) and IAM User Guide,
"IAM identifiers", "Unique identifiers" (``ASIA`` prefix,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids).

``PackedPolicySize``: "A percentage value that indicates the packed size of the session policies and
session tags combined passed in the request. The request fails if the packed size is greater than 100
percent, which means the policies and tags exceeded the allowed space" (API_AssumeRole, "Response
Elements", https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html); "The transitive
status of a session tag does not impact its packed binary size" (same page, "TransitiveTagKeys").
AWS does not publish its packing; broker packs the minified policy, the policy ARNs and the tags with
zlib and measures them against :data:`PACKED_POLICY_ALLOWANCE` bytes (docs/compatibility.md). The
refusal uses AWS's observed wording: "Packed policy consumes N% of allotted space, please use smaller
policy." The percentage is reported only when session policies or tags were passed, as AWS does.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from broker import ids
from broker.credentials.session_token import SessionClaims, SessionKind, SessionTokenCodec
from broker.errors import PackedPolicyTooLarge
from broker.ids import Entropy

__all__ = ["PACKED_POLICY_ALLOWANCE", "Minted", "SessionSpec", "mint", "packed_policy_percent"]

PACKED_POLICY_ALLOWANCE = 2048
"""Bytes of packed (compressed) session policies and tags a session may carry (100 %)."""


def _minify(policy: str) -> str:
    try:
        return json.dumps(json.loads(policy), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return policy


def packed_policy_percent(
    policy: str | None,
    policy_arns: tuple[str, ...] | list[str],
    tags: tuple[tuple[str, str], ...] | list[tuple[str, str]],
) -> int | None:
    """The ``PackedPolicySize`` percentage (``None`` when nothing was passed); raises over 100 %."""
    if policy is None and not policy_arns and not tags:
        return None
    packed = zlib.compress(
        json.dumps(
            [_minify(policy) if policy is not None else "", list(policy_arns), [list(t) for t in tags]],
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8"),
        9,
    )
    percent = math.ceil(100 * len(packed) / PACKED_POLICY_ALLOWANCE)
    if percent > 100:
        raise PackedPolicyTooLarge(
            f"Packed policy consumes {percent}% of allotted space, please use smaller policy.",
            detail=f"packed session policies and tags are {len(packed)} bytes > {PACKED_POLICY_ALLOWANCE}",
        )
    return percent


@dataclass(frozen=True)
class SessionSpec:
    """What a session is: everything in :class:`SessionClaims` but the key pair, times and session id."""

    kind: SessionKind
    account: str
    principal_arn: str
    principal_id: str
    principal_name: str
    duration_seconds: int
    session_name: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated_at: datetime | None = None
    chain_depth: int = 0
    federated_provider: str | None = None
    federated_subject: str | None = None
    federated_keys: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    """Web-identity condition keys carried into later requests (``session_token`` module docstring)."""


@dataclass(frozen=True)
class Minted:
    """Issued credentials; ``secret_access_key`` and ``session_token`` never appear in a repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    packed_policy_size: int | None
    claims: SessionClaims = field(repr=False)

    def credentials_shape(self) -> dict[str, object]:
        """The ``Credentials`` output member."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration,
        }


_MINT_DRAW = 2 * 16 + 2 * 40 + 16 + 12
"""Bytes one mint takes from the entropy, in this order: the access key id's 16 characters and the secret's 40
(``broker.ids`` draws twice the length and maps the first half), the session id (16) and the token nonce (12)."""


def mint(spec: SessionSpec, *, codec: SessionTokenCodec, now: datetime, entropy: Entropy) -> Minted:
    """New credentials for ``spec``, valid from ``now`` (whole seconds) for ``spec.duration_seconds``.

    The key id, secret, session id and nonce come from one draw of ``entropy`` (one system call, not four),
    each from its own bytes of it (:class:`broker.ids.DrawnEntropy`).
    """
    packed = packed_policy_percent(spec.policy, spec.policy_arns, spec.tags)
    issued = now.replace(microsecond=0)
    entropy = ids.DrawnEntropy(entropy, _MINT_DRAW)
    claims = SessionClaims(
        access_key_id=ids.temporary_access_key_id(entropy),
        secret_access_key=ids.secret_access_key(entropy),
        kind=spec.kind,
        account=spec.account,
        principal_arn=spec.principal_arn,
        principal_id=spec.principal_id,
        principal_name=spec.principal_name,
        issued_at=issued,
        expires_at=issued + timedelta(seconds=spec.duration_seconds),
        session_id=entropy.token_bytes(16).hex(),
        session_name=spec.session_name,
        policy=spec.policy,
        policy_arns=spec.policy_arns,
        tags=spec.tags,
        transitive_tag_keys=spec.transitive_tag_keys,
        source_identity=spec.source_identity,
        mfa_authenticated_at=spec.mfa_authenticated_at.replace(microsecond=0) if spec.mfa_authenticated_at else None,
        chain_depth=spec.chain_depth,
        federated_provider=spec.federated_provider,
        federated_subject=spec.federated_subject,
        federated_keys=spec.federated_keys,
    )
    token = codec.seal(claims, now=now, entropy=entropy)
    return Minted(claims.access_key_id, claims.secret_access_key, token, claims.expires_at, packed, claims)

