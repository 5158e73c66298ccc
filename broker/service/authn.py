"""Authentication: who signed this request?

For long-term keys (``AKIA…``, root's included) the sealed secret comes from the store and is
opened with the master key; the pure SigV4 verifier then checks the signature. For temporary keys
(``ASIA…``) the secret and the whole session come out of the sealed session token sent as
``X-Amz-Security-Token`` (header or presigned query), with no store lookup (DESIGN.md §4); the token's
access key id must be the signing key id ("Using temporary credentials with AWS resources",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_use-resources.html). A successful
check yields a :class:`~broker.principal.Principal`. Every failure is one of the AWS authentication errors
(AWS STS API Reference, "Common Errors", https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope, EnvelopeError
from broker.credentials.session_token import SessionClaims
from broker.credentials.sigv4 import SignedRequest, SigV4Auth, parse, verify
from broker.credentials.sigv4.signing_key import SigningKeyCache
from broker.errors import InvalidClientTokenId
from broker.principal import Principal
from broker.service.ports import Store
from broker.store.sqlalchemy.repositories.iam_records import AccessKeyRecord

__all__ = ["Authenticator", "Revocations", "session_principal"]

_INVALID_TOKEN = "The security token included in the request is invalid."
# Writing "last used" on every request would turn each read into a write; AWS itself reports it
# with a granularity of hours. One write per key per interval keeps the report useful and cheap.
_LAST_USED_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    auth: SigV4Auth


class Revocations(Protocol):
    """helper-8's revocation set (broker/service/revocation.py): is this session void?"""

    def is_revoked(self, claims: SessionClaims, now: datetime) -> bool: ...


class Authenticator:
    def __init__(
        self,
        *,
        store: Store,
        envelope: Envelope,
        arns: ArnFactory,
        skew_seconds: int,
        keyring: Any = None,
        revocations: Revocations | None = None,
    ) -> None:
        self.store = store
        self.envelope = envelope
        self.arns = arns
        self.skew_seconds = skew_seconds
        self.keyring = keyring  # a broker.service.keyring.KeyringService; None refuses every ASIA key
        self.revocations = revocations
        self._keys = SigningKeyCache()
        self._last_used: dict[str, datetime] = {}

    def parse(self, request: SignedRequest) -> SigV4Auth:
        """The signature's claims; raises ``MissingAuthenticationToken`` or ``IncompleteSignature``."""
        return parse(request)

    def authenticate(self, request: SignedRequest, auth: SigV4Auth, *, service: str, now: datetime) -> Principal:
        if auth.access_key_id.startswith("ASIA"):
            return self.authenticate_temporary(request, auth, service=service, now=now)
        with self.store.transaction() as tx:
            record = tx.iam.find_access_key(auth.access_key_id)
        if record is None or record.status != "Active":
            detail = "unknown access key" if record is None else "access key is inactive"
            raise InvalidClientTokenId(_INVALID_TOKEN, detail=f"{detail}: {auth.access_key_id}")
        try:
            secret = self.envelope.open(record.sealed_secret, aad=f"access-key:{auth.access_key_id}".encode()).decode()
        except EnvelopeError as exc:
            raise InvalidClientTokenId(_INVALID_TOKEN, detail=f"sealed secret unusable: {exc}") from exc
        verify(
            request,
            auth,
            secret,
            now=now,
            skew_seconds=self.skew_seconds,
            expected_service=service,
            normalize_path=True,
            cache=self._keys,
        )
        principal = self._principal(record)
        self._touch(auth, now)
        return principal

    def open_session(self, auth: SigV4Auth, now: datetime) -> SessionClaims:
        """The session behind an ``ASIA…`` key: the sealed token opened, matched and checked for revocation."""
        return self.open_token(auth.access_key_id, auth.security_token, now)

    def open_token(self, access_key_id: str, token: str | None, now: datetime) -> SessionClaims:
        """:meth:`open_session` from the signing key id and the ``X-Amz-Security-Token`` sent."""
        if self.keyring is None:
            raise InvalidClientTokenId(_INVALID_TOKEN, detail="no keyring: temporary credentials are disabled")
        if not token:
            detail = f"temporary key {access_key_id} sent no session token"
            raise InvalidClientTokenId(_INVALID_TOKEN, detail=detail)
        codec = self.keyring.codec
        kid = codec.key_id_of(token)
        if kid is not None and codec.keyring.by_kid(kid) is None:
            self.keyring.reload_for_unknown(kid)  # another node may have rotated a moment ago
        claims: SessionClaims = codec.open_at(token, now)
        if claims.access_key_id != access_key_id:
            raise InvalidClientTokenId(
                _INVALID_TOKEN, detail=f"session token belongs to {claims.access_key_id}, not {access_key_id}"
            )
        # Revocation hook (issue 4 item 6, helper-8): sessions voided by an epoch are refused here.
        if self.revocations is not None and self.revocations.is_revoked(claims, now):
            raise InvalidClientTokenId(_INVALID_TOKEN, detail=f"session {claims.session_id} was revoked")
        return claims

    def authenticate_temporary(
        self, request: SignedRequest, auth: SigV4Auth, *, service: str, now: datetime
    ) -> Principal:
        claims = self.open_session(auth, now)
        verify(
            request,
            auth,
            claims.secret_access_key,
            now=now,
            skew_seconds=self.skew_seconds,
            expected_service=service,
            normalize_path=True,
            cache=self._keys,
        )
        return session_principal(claims, self.arns)

    def _principal(self, record: AccessKeyRecord) -> Principal:
        if record.owner == "root" or record.user_name is None or record.user_id is None:
            account = self.arns.account
            return Principal(
                kind="root",
                arn=self.arns.root(),
                account=account,
                user_id=account,
                name=account,
                identity_arn=self.arns.root(),
                access_key_id=record.access_key_id,
            )
        arn = self.arns.user(record.user_name, record.user_path or "/")
        return Principal(
            kind="user",
            arn=arn,
            account=self.arns.account,
            user_id=record.user_id,
            name=record.user_name,
            identity_arn=arn,
            access_key_id=record.access_key_id,
        )

    def _touch(self, auth: SigV4Auth, now: datetime) -> None:
        last = self._last_used.get(auth.access_key_id)
        if last is not None and now - last < _LAST_USED_INTERVAL:
            return
        self._last_used[auth.access_key_id] = now
        with self.store.transaction() as tx:
            tx.iam.record_access_key_use(auth.access_key_id, now, auth.region, auth.service)




def session_principal(claims: SessionClaims, arns: ArnFactory) -> Principal:
    """The caller behind a session token.

    A role session is ``arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`` with user id ``AROA…:SESSION``
    and the role's ARN as the identity whose policies apply (IAM User Guide, "IAM identifiers", and
    "aws:userid" in https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable).
    ``GetSessionToken`` credentials are the user (or root) itself, marked ``temporary``.
    """
    common: dict[str, Any] = dict(
        account=claims.account,
        access_key_id=claims.access_key_id,
        tags=dict(claims.tags),
        mfa_present=claims.mfa_present,
        mfa_authenticated_at=claims.mfa_authenticated_at,
        token_issued_at=claims.issued_at,
        source_identity=claims.source_identity,
        temporary=True,
        session_id=claims.session_id,
        session_policy=claims.policy,
        session_policy_arns=claims.policy_arns,
        transitive_tag_keys=claims.transitive_tag_keys,
        chain_depth=claims.chain_depth,
        expires_at=claims.expires_at,
        federated_provider=claims.federated_provider,
        federated_subject=claims.federated_subject,
        federated_keys=dict(claims.federated_keys),
    )
    if claims.kind == "assumed-role":
        session = claims.session_name or ""
        return Principal(
            kind="assumed-role",
            arn=arns.assumed_role(claims.principal_name, session),
            user_id=f"{claims.principal_id}:{session}",
            name=session,
            identity_arn=claims.principal_arn,
            session_name=session,
            **common,
        )
    if claims.kind == "root":
        return Principal(
            kind="root", arn=claims.principal_arn, user_id=claims.account, name=claims.account,
            identity_arn=claims.principal_arn, **common,
        )
    if claims.kind == "user":
        return Principal(
            kind="user", arn=claims.principal_arn, user_id=claims.principal_id, name=claims.principal_name,
            identity_arn=claims.principal_arn, **common,
        )
    raise InvalidClientTokenId(_INVALID_TOKEN, detail=f"session kind {claims.kind} is not supported")
