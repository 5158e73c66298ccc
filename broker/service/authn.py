"""Authentication: who signed this request?

For long-term keys (``AKIA…``, root's included) the sealed secret comes from the store and is
opened with the master key; the pure SigV4 verifier then checks the signature. A successful check
yields a :class:`~broker.principal.Principal`. Every failure is one of the AWS authentication errors
(AWS STS API Reference, "Common Errors", https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope, EnvelopeError
from broker.credentials.sigv4 import SignedRequest, SigV4Auth, parse, verify
from broker.credentials.sigv4.signing_key import SigningKeyCache
from broker.errors import InvalidClientTokenId
from broker.principal import Principal
from broker.service.ports import Store
from broker.store.sqlalchemy.repositories.iam_records import AccessKeyRecord

__all__ = ["Authenticator"]

_INVALID_TOKEN = "The security token included in the request is invalid."
# Writing "last used" on every request would turn each read into a write; AWS itself reports it
# with a granularity of hours. One write per key per interval keeps the report useful and cheap.
_LAST_USED_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    auth: SigV4Auth


class Authenticator:
    def __init__(self, *, store: Store, envelope: Envelope, arns: ArnFactory, skew_seconds: int) -> None:
        self.store = store
        self.envelope = envelope
        self.arns = arns
        self.skew_seconds = skew_seconds
        self._keys = SigningKeyCache()
        self._last_used: dict[str, datetime] = {}

    def parse(self, request: SignedRequest) -> SigV4Auth:
        """The signature's claims; raises ``MissingAuthenticationToken`` or ``IncompleteSignature``."""
        return parse(request)

    def authenticate(self, request: SignedRequest, auth: SigV4Auth, *, service: str, now: datetime) -> Principal:
        if auth.access_key_id.startswith("ASIA"):
            # Temporary credentials arrive with the credentials issue (sealed session tokens).
            raise InvalidClientTokenId(_INVALID_TOKEN, detail="temporary credentials are not accepted yet")
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


