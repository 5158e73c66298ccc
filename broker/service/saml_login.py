"""Browser SAML login over the AssumeRoleWithSAML seam (SPEC.md §3.4): find the provider, list the roles the
assertion offers, and mint the one the user picks.

The flow mirrors the AWS console's SAML sign-in (IAM User Guide, "Enabling SAML 2.0 federated principals to
access the AWS Management Console",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-saml.html): the ACS validates
the response and shows the roles named in the ``https://aws.amazon.com/SAML/Attributes/Role`` attribute; the
chosen role is assumed with the same response, which is then consumed (replay cache) by
:func:`broker.service.saml_session.saml_session`. Listing validates without consuming.

Durations: ``SessionDuration`` (attribute) "specifies the maximum amount of time that the federated user can
access the console" (IAM User Guide, "Configure SAML assertions for the authentication response",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html#saml_role-session-duration);
a login asks for the user's duration (default: the attribute, else 3600 s) and clamps it to the role's
``MaxSessionDuration`` instead of refusing, and the page says why the session is shorter than asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from broker.arn import parse_arn
from broker.errors import AccessDenied, InvalidIdentityToken, InvalidParameterValue
from broker.federation.saml.errors import SamlError
from broker.federation.saml.xmlsafe import decode_post, parse_message
from broker.service.env import OpEnv
from broker.service.saml_session import SamlResult, SamlSp, roles_from_assertion, saml_session

__all__ = [
    "DEFAULT_DURATION",
    "SamlLoginRoles",
    "SamlRoleOption",
    "clamp_duration",
    "find_saml_provider",
    "login_roles",
    "login_session",
    "response_issuer",
    "sso_redirect_location",
]

DEFAULT_DURATION = 3600
_NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"


@dataclass(frozen=True)
class SamlRoleOption:
    role_arn: str
    role_name: str
    max_session_duration: int


@dataclass(frozen=True)
class SamlLoginRoles:
    """What the role picker shows after a valid response."""

    provider_arn: str
    subject: str
    roles: tuple[SamlRoleOption, ...]
    session_duration: int | None
    """The IdP's ``SessionDuration`` attribute, when sent and numeric."""


def find_saml_provider(env: OpEnv, ref: str) -> Any:
    """The SAML provider named by its ARN or its name; ``InvalidParameterValue`` when none is registered."""
    ref = ref.strip()
    record = None
    if ref.startswith("arn:"):
        try:
            parsed = parse_arn(ref)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.account == env.arns.account and parsed.resource_type == "saml-provider":
            record = env.tx.providers.get_saml(ref)
    elif 0 < len(ref) <= 128:
        record = env.tx.providers.get_saml_by_name(ref)
    if record is None:
        raise InvalidParameterValue(f"No SAML provider {ref[:128]} is registered in this account")
    return record


def response_issuer(sp: SamlSp, saml_response_b64: str) -> str:
    """The Response's ``Issuer`` (unverified: only to find candidate providers for an IdP-initiated login)."""
    try:
        root = parse_message(decode_post(saml_response_b64, max_chars=sp.config.max_b64_chars,
                                         max_xml_bytes=sp.config.max_xml_bytes))
    except SamlError as error:
        raise InvalidIdentityToken("Invalid SAML response", detail="; ".join(error.problems)) from error
    issuer = root.findtext(f"{{{_NS_SAML}}}Issuer")
    if issuer is None:
        for assertion in root.iter(f"{{{_NS_SAML}}}Assertion"):
            issuer = assertion.findtext(f"{{{_NS_SAML}}}Issuer")
            break
    if not issuer or not issuer.strip():
        raise InvalidIdentityToken("Issuer not present in specified provider", detail="the Response has no Issuer")
    return issuer.strip()


def _candidates(env: OpEnv, sp: SamlSp, saml_response_b64: str, provider_arn: str | None) -> list[str]:
    if provider_arn is not None:
        return [provider_arn]
    issuer = response_issuer(sp, saml_response_b64)
    found = sorted(p.arn for p in env.tx.providers.list_saml() if p.entity_id == issuer)
    if not found:
        raise InvalidIdentityToken(
            "Issuer not present in specified provider", detail=f"no SAML provider has the entity id {issuer!r}"
        )
    return found


def _role_option(env: OpEnv, role_arn: str) -> SamlRoleOption | None:
    try:
        parsed = parse_arn(role_arn)
    except ValueError:
        return None
    if parsed.service != "iam" or parsed.resource_type != "role" or parsed.account != env.arns.account:
        return None
    role = env.tx.iam.get_role(parsed.name)
    if role is None or env.arns.role(role.name, role.path) != role_arn:
        return None
    return SamlRoleOption(role_arn, role.name, role.max_session_duration)


def login_roles(
    sp: SamlSp, env: OpEnv, *, saml_response_b64: str, provider_arn: str | None, expected_in_response_to: str | None
) -> SamlLoginRoles:
    """Validate the response (without consuming it) and list the existing roles its ``Role`` attribute names.

    ``provider_arn`` is known for an SP-initiated login (from the login cookie); for an IdP-initiated one the
    providers whose entity id equals the response's ``Issuer`` are tried in turn (the signature decides).
    """
    last: Exception | None = None
    for arn in _candidates(env, sp, saml_response_b64, provider_arn):
        try:
            validated, pairs = roles_from_assertion(
                sp, env, saml_response_b64=saml_response_b64, principal_arn=arn,
                expected_in_response_to=expected_in_response_to,
            )
        except (InvalidIdentityToken, AccessDenied) as error:
            last = error
            continue
        options = [o for o in (_role_option(env, p.role_arn) for p in pairs) if o is not None]
        unique = {o.role_arn: o for o in options}
        duration_values = validated.attributes.get(SESSION_DURATION, ())
        duration = int(duration_values[0]) if len(duration_values) == 1 and duration_values[0].isdigit() else None
        return SamlLoginRoles(arn, validated.name_id, tuple(sorted(unique.values(), key=lambda o: o.role_arn)),
                              duration)
    assert last is not None
    raise last


def clamp_duration(requested: int | None, idp_duration: int | None, maximum: int) -> tuple[int, str | None]:
    """The login's duration and, when shorter than asked, why."""
    wanted = requested if requested is not None else (idp_duration or DEFAULT_DURATION)
    if wanted < 900:
        return 900, f"requested {wanted} s is below the 900 s minimum; raised to 900 s"
    if wanted > maximum:
        return maximum, f"requested {wanted} s exceeds the role's MaxSessionDuration; clamped to {maximum} s"
    return wanted, None


def login_session(
    sp: SamlSp, env: OpEnv, *, saml_response_b64: str, provider_arn: str, role_arn: str,
    duration_seconds: int | None, idp_duration: int | None, expected_in_response_to: str | None,
) -> tuple[SamlResult, int, str | None]:
    """Mint the chosen role; returns the result, the session's length in seconds and the duration note."""
    option = _role_option(env, role_arn)
    if option is None:
        raise AccessDenied("Not authorized to perform sts:AssumeRoleWithSAML", detail=f"no such role {role_arn}")
    duration, note = clamp_duration(duration_seconds, idp_duration, option.max_session_duration)
    result = saml_session(
        sp, env, saml_response_b64=saml_response_b64, role_arn=role_arn, principal_arn=provider_arn,
        duration_seconds=duration, policy=None, policy_arns=(), expected_in_response_to=expected_in_response_to,
    )
    actual = math.ceil((result.minted.expiration - env.call.now).total_seconds())  # expiry drops sub-seconds
    if actual < duration:
        note = (note + "; " if note else "") + (
            f"the identity provider limits this session to {actual} s (SessionDuration or SessionNotOnOrAfter)"
        )
    return result, actual, note




def sso_redirect_location(env: OpEnv, record: Any) -> str:
    """The IdP's SingleSignOnService for the HTTP-Redirect binding, from the provider's stored metadata."""
    from broker.federation.saml.metadata import MetadataError, parse_idp_metadata

    try:
        metadata = parse_idp_metadata(record.metadata_document)
    except MetadataError as error:
        raise InvalidParameterValue(
            f"The metadata of SAML provider {record.name} cannot be read", detail="; ".join(error.problems)
        ) from error
    for service in metadata.sso_services:
        if service.binding == REDIRECT_BINDING:
            return str(service.location)
    raise InvalidParameterValue(
        f"SAML provider {record.name} publishes no HTTP-Redirect SingleSignOnService; use IdP-initiated login"
    )


REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
