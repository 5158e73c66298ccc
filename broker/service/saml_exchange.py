"""SAML 2.0 subject tokens for the RFC 8693 token exchange (SPEC.md §3.2).

``subject_token_type=urn:ietf:params:oauth:token-type:saml2`` (RFC 8693 §3, "Indicates that the token is a
base64url-encoded SAML 2.0 assertion", https://www.rfc-editor.org/rfc/rfc8693#section-3). Broker takes the
signed ``samlp:Response`` an IdP posts to broker's ACS (the same document ``AssumeRoleWithSAML`` takes), in
base64 or base64url, and runs it through :func:`broker.service.saml_session.saml_session`: every check of
AssumeRoleWithSAML applies (signature from the provider's metadata, issuer, audience, recipient and
destination equal to broker's ACS, time window, replay cache, ``Role`` pair, trust policy). The provider is the
one whose entity id equals the response's ``Issuer`` (several with the same entity id are tried in turn);
the session name comes from the ``RoleSessionName`` attribute, as in AWS. A bare ``saml:Assertion`` is not
accepted (its ``Recipient``/``Destination`` checks need the Response): docs/compatibility.md.
"""

from __future__ import annotations

from broker.errors import AccessDenied, InvalidIdentityToken
from broker.service.env import OpEnv
from broker.service.saml_login import response_issuer
from broker.service.saml_session import SamlResult, SamlSp, saml_session
from broker.service.token_exchange import SAML2, ExchangeRequest, SubjectHandler, SubjectSession, SubjectTokenType

__all__ = ["MAX_SAML_TOKEN", "saml_subject_handler", "saml_subject_type", "standard_base64"]

MAX_SAML_TOKEN = 100_000
"""The STS ``SAMLAssertion`` limit (API_AssumeRoleWithSAML, "Request Parameters":
"Length Constraints: Minimum length of 4. Maximum length of 100000.")."""


def standard_base64(token: str) -> str:
    """base64url (RFC 4648 §5, padding optional) → standard base64; standard base64 passes through."""
    text = "".join(token.split())
    if "-" in text or "_" in text or len(text) % 4:
        text = text.replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
    return text


def _session(result: SamlResult) -> SubjectSession:
    claims = result.minted.claims
    return SubjectSession(
        minted=result.minted,
        role_arn=result.role_arn,
        assumed_role_arn=result.assumed_role_arn,
        assumed_role_id=result.assumed_role_id,
        subject=result.subject,
        provider_arn=result.provider_arn,
        audience=result.audience,
        session_name=claims.session_name or "",
        packed_policy_size=result.packed_policy_size,
        source_identity=result.source_identity,
        tags=tuple(claims.tags),
    )


def saml_subject_handler(sp: SamlSp) -> SubjectHandler:
    def handle(env: OpEnv, request: ExchangeRequest) -> SubjectSession:
        message = standard_base64(request.subject_token)
        issuer = response_issuer(sp, message)
        candidates = sorted(p.arn for p in env.tx.providers.list_saml() if p.entity_id == issuer)
        if not candidates:
            raise InvalidIdentityToken(
                "Issuer not present in specified provider", detail=f"no SAML provider has the entity id {issuer!r}"
            )
        last: Exception | None = None
        for provider_arn in candidates:
            try:
                result = saml_session(
                    sp, env, saml_response_b64=message, role_arn=request.role_arn, principal_arn=provider_arn,
                    duration_seconds=request.duration_seconds, policy=None, policy_arns=(),
                )
            except (InvalidIdentityToken, AccessDenied) as error:
                if len(candidates) == 1:
                    raise
                last = error
                continue
            return _session(result)
        assert last is not None
        raise last

    return handle


def saml_subject_type(sp: SamlSp) -> SubjectTokenType:
    """The token-exchange table row for SAML 2.0 subject tokens."""
    return SubjectTokenType(SAML2, saml_subject_handler(sp), MAX_SAML_TOKEN)
