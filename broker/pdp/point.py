"""The policy decision point: verify a request's credentials, then decide an action on a resource.

The same verifier and evaluator broker uses for its own API (SPEC.md §3.3):

* SigV4 (``Authorization`` header or presigned query) through :class:`broker.service.authn.Authenticator`:
  ``ASIA…`` keys open their sealed session token with the keyring held in memory (no store),
  ``AKIA…`` keys are looked up in the store;
* bearer access tokens through :class:`~broker.pdp.bearer.BearerVerifier` (keyring public keys);
* decisions through :class:`~broker.pdp.policies.CachingAuthorizer` (broker's policy evaluation over
  the principal's compiled policies, held in memory).

An authentication failure is a *decision* (``ImplicitDeny`` with the AWS error), never an exception:
the service asking is not the one who failed. The root user is allowed everything, as in AWS ("AWS
account root user", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from broker.clock import Clock
from broker.credentials.session_token import SessionClaims
from broker.credentials.sigv4 import SignedRequest, SigningKeyCache, SigV4Auth, verify
from broker.credentials.sigv4.fast import Mac, parse_usual, signer, usual_signature
from broker.credentials.sigv4.signing_key import derive_signing_key
from broker.errors import AccessDenied, AuthError, BrokerError, InvalidClientTokenId
from broker.ids import Entropy, SystemEntropy
from broker.pdp.bearer import BearerVerifier
from broker.pdp.policies import CachingAuthorizer, Prepared
from broker.pdp.result import AuthzResult, authz_result
from broker.policy import ContextValue
from broker.principal import CallContext, Principal
from broker.service.authn import Authenticator, session_principal
from broker.service.authorize import check_session_token_limits, denial_message

__all__ = ["Authenticated", "PolicyDecisionPoint", "RequestFacts"]


class RequestFacts:
    """The facts of the described request that become global condition keys (``aws:SourceIp`` …)."""

    __slots__ = ("secure_transport", "source_ip", "user_agent")

    def __init__(self, source_ip: str = "", user_agent: str = "", secure_transport: bool = False) -> None:
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.secure_transport = secure_transport


_NO_FACTS = RequestFacts()

_Session = tuple[SessionClaims, Principal, "Prepared | None", dict[str, Mac]]
"""Per session token: its claims, principal, prepared policies, and its signing keys (keyed HMACs) per scope."""
_MAX_KEYS_PER_SESSION = 8


@dataclass(frozen=True, slots=True)
class Authenticated:
    """An authenticated signer: the principal, its session's prepared policies (if any) and the signing region."""

    principal: Principal
    prepared: Prepared | None
    region: str


class PolicyDecisionPoint:
    """Authenticate and authorize locally. Thread-safe; build one per process and share it."""

    def __init__(
        self,
        *,
        authenticator: Authenticator,
        authorizer: CachingAuthorizer,
        clock: Clock,
        bearer: BearerVerifier | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.clock = clock
        self.bearer = bearer
        self.entropy = entropy or SystemEntropy()
        self._keys = SigningKeyCache()
        self._sessions: dict[str, _Session] = {}
        self._max_sessions = 10_000
        self._lock = threading.Lock()
        self._request_ids: list[str] = []

    def __repr__(self) -> str:
        return f"PolicyDecisionPoint(authorizer={self.authorizer!r}, bearer={self.bearer!r})"

    # --- authentication --------------------------------------------------------------------------

    def authenticate_sigv4(self, request: SignedRequest, *, now: datetime, service: str | None = None) -> Principal:
        """The signer of ``request``; raises an :class:`~broker.errors.AuthError`.

        ``service``: the SigV4 service name the request must be scoped to; ``None`` accepts the scope's.
        """
        return self._authenticate(request, service, now)[0]

    def _authenticate(
        self, request: SignedRequest, service: str | None, now: datetime
    ) -> tuple[Principal, Prepared | None, str]:
        """(principal, its prepared policies for sessions, the signing region); raises an AuthError."""
        return self._usual(request, service, now) or self._general(request, service, now)

    def _general(
        self, request: SignedRequest, service: str | None, now: datetime
    ) -> tuple[Principal, Prepared | None, str]:
        """:meth:`_authenticate` for what :meth:`_usual` leaves: ``parse`` + ``verify`` with AWS's errors."""
        auth = self.authenticator.parse(request)
        if auth.access_key_id.startswith("ASIA"):
            principal, prepared = self._temporary(request, auth, service or auth.service, now)
            return principal, prepared, auth.region
        principal = self.authenticator.authenticate(request, auth, service=service or auth.service, now=now)
        return principal, None, auth.region

    def authenticate(self, request: SignedRequest, *, now: datetime, service: str | None = None) -> Authenticated:
        """The signer of ``request`` ready for :meth:`decide_for`; raises an :class:`~broker.errors.AuthError`."""
        principal, prepared, region = self._authenticate(request, service, now)
        return Authenticated(principal, prepared, region)

    def decide_for(
        self,
        who: Authenticated,
        action: str,
        resource: str,
        *,
        context: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        facts: RequestFacts | None = None,
    ) -> AuthzResult:
        """:meth:`decide` for an :class:`Authenticated` signer (its session's prepared policies reused)."""
        when = now if now is not None else self.clock.now()
        f = facts or _NO_FACTS
        return self._decide(who.principal, who.prepared, action, resource, context, when, f.source_ip, f.user_agent,
                            f.secure_transport, who.region)

    def authenticate_bearer(
        self, token: str, *, now: datetime, audiences: Sequence[str] | None = None
    ) -> Principal:
        if self.bearer is None:
            raise InvalidClientTokenId(
                "The security token included in the request is invalid.", detail="no bearer verifier configured"
            )
        return self.bearer.verify(token, now, audiences=audiences).principal

    # --- decisions -------------------------------------------------------------------------------

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        *,
        context: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        facts: RequestFacts = _NO_FACTS,
        region: str = "us-east-1",
    ) -> AuthzResult:
        """``action`` on ``resource`` by ``principal``, with the global keys and ``context`` added."""
        when = now if now is not None else self.clock.now()
        return self._decide(principal, None, action, resource, context, when, facts.source_ip, facts.user_agent,
                            facts.secure_transport, region)

    def _decide(
        self,
        principal: Principal,
        prepared: Prepared | None,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None,
        when: datetime,
        source_ip: str,
        user_agent: str,
        secure_transport: bool,
        region: str,
    ) -> AuthzResult:
        if prepared is not None and principal.kind == "assumed-role":
            # A role session (no root rule, no GetSessionToken limits) with its prepared policies: the rest inline.
            try:
                decision = self.authorizer.decide_normalized(
                    prepared, principal, action, resource, context, when, source_ip, user_agent, secure_transport,
                    region,
                )
            except BrokerError as error:  # a stored policy that no longer compiles: fail closed
                return AuthzResult("ImplicitDeny", principal, reason=error.detail, error=error, denial=error.message)
            effect = decision.effect
            denial = "" if effect == "Allow" else denial_message(principal.arn, action, resource, decision)
            return authz_result(effect, principal, decision.matched, decision.missing_context_keys, decision.reason,
                                denial)
        if principal.is_root:
            try:
                check_session_token_limits(principal, action)
            except AccessDenied as denied:
                return AuthzResult("ImplicitDeny", principal, reason=denied.detail, denial=denied.message)
            return AuthzResult("Allow", principal, reason="the root user is allowed every action")
        try:
            check_session_token_limits(principal, action)
        except AccessDenied as denied:
            return AuthzResult("ImplicitDeny", principal, reason=denied.detail, denial=denied.message)
        call = CallContext(
            request_id="",
            now=when,
            principal=principal,
            source_ip=source_ip,
            user_agent=user_agent,
            secure_transport=secure_transport,
            region=region,
        )
        try:
            if prepared is None:
                prepared = self.authorizer.prepare(principal)
            decision = self.authorizer.decide_prepared(prepared, call, principal, action, resource, context)
        except BrokerError as error:  # a stored policy that no longer compiles: fail closed
            return AuthzResult("ImplicitDeny", principal, reason=error.detail, error=error, denial=error.message)
        denial = "" if decision.allowed else denial_message(principal.arn, action, resource, decision)
        return AuthzResult(
            decision.effect,
            principal,
            decision.matched,
            decision.missing_context_keys,
            decision.reason,
            None,
            denial,
        )

    def authorize_sigv4(
        self,
        request: SignedRequest,
        action: str,
        resource: str,
        *,
        context: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        facts: RequestFacts | None = None,
        service: str | None = None,
    ) -> AuthzResult:
        """Verify ``request``'s SigV4 signature, then decide. Authentication failures are denials."""
        when = now if now is not None else self.clock.now()
        try:
            principal, prepared, region = self._usual(request, service, when) or self._general(request, service, when)
        except AuthError as error:
            return _unauthenticated(error)
        if facts is None:  # the described request's own User-Agent
            agents = request.header_tuple("user-agent")
            return self._decide(principal, prepared, action, resource, context, when, "", agents[0] if agents else "",
                                False, region)
        return self._decide(principal, prepared, action, resource, context, when, facts.source_ip, facts.user_agent,
                            facts.secure_transport, region)

    def _usual(
        self, request: SignedRequest, service: str | None, now: datetime
    ) -> tuple[Principal, Prepared | None, str] | None:
        """:meth:`_temporary` for the usual header-signed ``ASIA…`` request, in one pass; ``None`` for others.

        The same checks, in the same order, as ``parse`` + ``open_session`` + ``verify``
        (``broker.credentials.sigv4.fast``): the token is opened (expiry and revocation checked) and the
        signature recomputed and compared on every call. Anything this path does not accept (a scope,
        clock or signature problem, an unusual shape) answers ``None`` and the general path decides,
        with AWS's error; the session token's own refusals are the same call either way.
        """
        usual = parse_usual(request)
        if usual is None:
            return None
        key_id, date, region, scoped = usual[0], usual[1], usual[2], usual[3]
        if (
            not key_id.startswith("ASIA")
            or (service is not None and scoped != service)
            or now.tzinfo is not UTC
            or abs((usual[8] - now).total_seconds()) > self.authenticator.skew_seconds
        ):
            return None
        token = usual[9]
        claims = self.authenticator.open_token(key_id, token, now)
        assert token is not None  # open_token refuses a missing token
        entry = self._sessions.get(token)
        fresh = entry is None or entry[0] is not claims
        if entry is None or fresh:
            entry = (claims, session_principal(claims, self.authenticator.arns), None, {})
        keys = entry[3]
        scope = f"{date}/{region}/{scoped}"
        mac = keys.get(scope)
        if mac is None:
            mac = signer(derive_signing_key(claims.secret_access_key, date, region, scoped))
            if len(keys) >= _MAX_KEYS_PER_SESSION:
                keys.clear()
            keys[scope] = mac
        expected = usual_signature(request, usual, mac, token_opened=True)  # open_token accepted usual[9]
        if expected is None or not hmac.compare_digest(expected, usual[6]):
            return None
        principal, prepared = entry[1], entry[2]
        if prepared is None or prepared.generation != self.authorizer.generation:
            try:
                prepared = self.authorizer.prepare(principal)
            except BrokerError:
                prepared = None  # decided (and refused) on the slow path, with its reason
            fresh = True
        if fresh:
            self._remember(token, (claims, principal, prepared, keys))
        return principal, prepared, region

    def _remember(self, token: str, entry: _Session) -> None:
        with self._lock:
            self._sessions[token] = entry
            if len(self._sessions) > self._max_sessions:
                self._sessions.pop(next(iter(self._sessions)))

    def _temporary(
        self, request: SignedRequest, auth: SigV4Auth, service: str, now: datetime
    ) -> tuple[Principal, Prepared | None]:
        """``Authenticator.authenticate_temporary`` with the session's principal and context kept per token.

        The token is opened (expiry and revocation checked) and the signature verified on every call;
        only what follows from the authenticated token alone is remembered.
        """
        claims = self.authenticator.open_session(auth, now)
        verify(
            request, auth, claims.secret_access_key, now=now, skew_seconds=self.authenticator.skew_seconds,
            expected_service=service, normalize_path=True, cache=self._keys,
        )
        token = auth.security_token or ""
        entry = self._sessions.get(token)
        if entry is None or entry[0] is not claims:
            entry = (claims, session_principal(claims, self.authenticator.arns), None, {})
        principal, prepared = entry[1], entry[2]
        if prepared is None or prepared.generation != self.authorizer.generation:
            try:
                prepared = self.authorizer.prepare(principal)
            except BrokerError:
                prepared = None  # decided (and refused) on the slow path, with its reason
        self._remember(token, (claims, principal, prepared, entry[3]))
        return principal, prepared

    def authorize_bearer(
        self,
        token: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, ContextValue] | None = None,
        now: datetime | None = None,
        facts: RequestFacts = _NO_FACTS,
        region: str = "us-east-1",
        audiences: Sequence[str] | None = None,
    ) -> AuthzResult:
        """Verify a bearer access token (``aud`` must hold one of ``audiences``), then decide."""
        when = now if now is not None else self.clock.now()
        try:
            principal = self.authenticate_bearer(token, now=when, audiences=audiences)
        except AuthError as error:
            return _unauthenticated(error)
        return self.decide(principal, action, resource, context=context, now=when, facts=facts, region=region)

    def request_id(self) -> str:
        """A request id (:func:`broker.ids.request_id`'s UUID form): one entropy draw per 64 ids."""
        try:
            return self._request_ids.pop()
        except IndexError:
            ids = request_ids(self.entropy, _REQUEST_IDS_PER_DRAW)
            rid = ids.pop()
            self._request_ids = ids  # a list's pop is atomic: threads never share an id
            return rid


_REQUEST_IDS_PER_DRAW = 64


def request_ids(entropy: Entropy, count: int) -> list[str]:
    """``count`` request ids from one draw of ``16 * count`` bytes: the ``i``-th is :func:`broker.ids.request_id`
    of bytes ``16 i .. 16 i + 16`` (version 4, RFC 4122 variant), handed out from the end of the list."""
    raw = bytearray(entropy.token_bytes(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(32 * (count - 1), -1, -32)]


def _unauthenticated(error: BrokerError) -> AuthzResult:
    return AuthzResult("ImplicitDeny", None, reason=f"the request did not authenticate: {error.detail}",
                       error=error, denial=error.message)

