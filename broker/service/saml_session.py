"""SAML assertions to role sessions: the service seam under AssumeRoleWithSAML and the browser login.

AssumeRoleWithSAML semantics (AWS STS API Reference, API_AssumeRoleWithSAML,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html):

- the provider is ``PrincipalArn`` (an IAM SAML provider of this account); the assertion is validated
  against its metadata (:class:`broker.federation.saml.validate.SamlValidator`) and its ID is recorded
  in the store-backed replay cache until it expires (shared by every node); the assertion must be signed,
  except for providers the operator lists in ``BROKER_SAML_RESPONSE_SIGNED_PROVIDERS``, whose valid Response
  signature is accepted as covering it (AWS accepts either; the audit event says when this happened);
- the ``Role`` attribute must contain the pair (``RoleArn``, ``PrincipalArn``) in either order, else
  ``AccessDenied`` ("Not authorized to perform sts:AssumeRoleWithSAML");
- the role's trust policy is evaluated with principal ``{"Federated": provider ARN}`` and action
  ``sts:AssumeRoleWithSAML``, plus ``sts:TagSession`` with session tags and ``sts:SetSourceIdentity``
  with a source identity ("Passing session tags using AssumeRoleWithSAML",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_adding-assume-role-saml),
  with the ``saml:`` keys of :func:`broker.federation.saml.attributes.condition_keys`;
- "DurationSeconds": "Your role session lasts for the duration that you specify for the
  DurationSeconds parameter, or until the time specified in the SAML authentication response's
  SessionNotOnOrAfter value, whichever is shorter"; above the role's MaxSessionDuration is a
  ``ValidationError``; the ``SessionDuration`` attribute can only shorten an API session;
- the response carries ``Subject``, ``SubjectType``, ``Issuer``, ``Audience``, ``NameQualifier``,
  ``SourceIdentity`` and ``PackedPolicySize``.

Errors: ``InvalidIdentityToken`` (the assertion or its attributes), ``ExpiredTokenException`` (time),
``AccessDenied`` (Role pair, trust), ``ValidationError`` (duration), ``MalformedPolicyDocument`` /
``PackedPolicyTooLarge`` (session policies).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from broker import policy
from broker.arn import parse_arn
from broker.credentials.mint import Minted, SessionSpec, mint
from broker.errors import AccessDenied, ExpiredTokenException, InvalidIdentityToken
from broker.federation.saml.assertion import ValidatedAssertion
from broker.federation.saml.attributes import (
    AwsSamlAttributes,
    RolePair,
    aws_attributes,
    condition_keys,
    name_qualifier,
    role_pairs,
    subject_type,
)
from broker.federation.saml.config import SpConfig
from broker.federation.saml.errors import SamlError
from broker.federation.saml.validate import IdpTrust, SamlValidator
from broker.service.env import OpEnv
from broker.service.session_tags import add_tag_context
from broker.service.sts.common import check_duration, check_session_policies, check_tags
from broker.service.sts.role_use import RoleUse

__all__ = ["SamlResult", "SamlSp", "roles_from_assertion", "saml_session"]

ACTION = "sts:AssumeRoleWithSAML"
NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithSAML"


@dataclass(frozen=True)
class SamlSp:
    """Broker's SAML service provider: its frozen config, the validators, and the session-token codec.

    ``validator`` requires a signed assertion (the default, and what broker's metadata asks for:
    ``WantAssertionsSigned="true"``). ``response_signed_validator`` — built only when the operator names
    providers in ``BROKER_SAML_RESPONSE_SIGNED_PROVIDERS`` — also accepts an unsigned assertion covered by
    the Response's valid signature; it is used for those providers only (:meth:`validator_for`).
    """

    config: SpConfig
    validator: SamlValidator
    codec: Any  # broker.credentials.session_token.SessionTokenCodec (KeyringService.codec)
    role_use: RoleUse = field(default_factory=RoleUse, compare=False)
    """This node's ``RoleLastUsed`` throttle (``service/sts/role_use.py``)."""
    response_signed_providers: frozenset[str] = frozenset()
    """Names of the SAML providers whose Response signature is accepted as covering the assertion."""
    response_signed_validator: SamlValidator | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls, config: SpConfig, codec: Any, sp_private_keys: Callable[[], Sequence[bytes]] = lambda: (),
        *, response_signed_providers: Iterable[str] = (),
    ) -> SamlSp:
        names = frozenset(response_signed_providers)
        relaxed = None
        if names:
            relaxed = SamlValidator(replace(config, want_assertions_signed=False), sp_private_keys=sp_private_keys)
        return cls(config, SamlValidator(config, sp_private_keys=sp_private_keys), codec,
                   response_signed_providers=names, response_signed_validator=relaxed)

    def accepts_response_signature(self, provider_name: str) -> bool:
        """Whether the operator listed this provider (by name or ARN) in ``BROKER_SAML_RESPONSE_SIGNED_PROVIDERS``."""
        return self.response_signed_validator is not None and provider_name in self.response_signed_providers

    def validator_for(self, provider_name: str) -> SamlValidator:
        """The relaxed validator for a listed provider, the strict one for every other."""
        relaxed = self.response_signed_validator
        return relaxed if relaxed is not None and provider_name in self.response_signed_providers else self.validator


@dataclass(frozen=True)
class SamlResult:
    """A validated assertion turned into role credentials."""

    assertion: ValidatedAssertion = field(repr=False)
    attributes: AwsSamlAttributes = field(repr=False)
    minted: Minted
    role_arn: str
    provider_arn: str
    assumed_role_arn: str
    assumed_role_id: str
    subject: str
    subject_type: str
    issuer: str
    audience: str
    name_qualifier: str
    source_identity: str | None
    packed_policy_size: int | None

    def output(self) -> dict[str, Any]:
        """The ``AssumeRoleWithSAMLResult`` shape (botocore output)."""
        out: dict[str, Any] = {
            "Credentials": self.minted.credentials_shape(),
            "AssumedRoleUser": {"Arn": self.assumed_role_arn, "AssumedRoleId": self.assumed_role_id},
            "Subject": self.subject,
            "SubjectType": self.subject_type,
            "Issuer": self.issuer,
            "Audience": self.audience,
            "NameQualifier": self.name_qualifier,
        }
        if self.packed_policy_size is not None:
            out["PackedPolicySize"] = self.packed_policy_size
        if self.source_identity is not None:
            out["SourceIdentity"] = self.source_identity
        return out


RESPONSE_SIGNED_SETTING = "BROKER_SAML_RESPONSE_SIGNED_PROVIDERS"
_UNSIGNED_ASSERTION = "the Assertion is not signed"


def _refusal(error: SamlError, hint: str = "") -> Exception:
    detail = "; ".join(error.problems) + hint
    if error.kind == "expired":
        return ExpiredTokenException("Token is expired or not yet valid", detail=detail)
    if error.kind == "denied":
        return AccessDenied(NOT_AUTHORIZED, detail=detail)
    return InvalidIdentityToken(_public_message(error.problems), detail=detail)


def _public_message(problems: Sequence[str]) -> str:
    """AWS's wording for the first problem's class; the full list goes to the audit log only."""
    first = problems[0] if problems else ""
    for needle, wording in (
        ("RoleSessionName", first),
        ("Source Identity", first),
        ("Issuer", "Issuer not present in specified provider"),
        ("audience", "Response does not contain the required audience"),
        ("already been used", "The SAML assertion has already been used"),
    ):
        if needle in first:
            return wording
    if "signature" in first.lower() or "not signed" in first:
        return "Response signature invalid"
    return "Invalid SAML response"


def _provider(env: OpEnv, principal_arn: str) -> tuple[Any, IdpTrust, str]:
    record = env.tx.providers.get_saml(principal_arn)
    try:
        parsed = parse_arn(principal_arn)
        name = parsed.name if parsed.resource_type == "saml-provider" else None
    except ValueError:
        name = None
    if record is None or name is None or parsed.account != env.arns.account:
        raise InvalidIdentityToken(
            f"No SAML provider found in your account for {principal_arn}", detail="unknown SAML provider ARN"
        )
    if record.valid_until is not None and record.valid_until <= env.call.now:
        raise InvalidIdentityToken(
            "Invalid SAML response", detail=f"the provider's metadata expired at {record.valid_until}"
        )
    certs = tuple(base64.b64decode(c) for c in record.signing_certificates)
    return record, IdpTrust(record.entity_id, certs), name


def _validate(
    sp: SamlSp, env: OpEnv, message: str, trust: IdpTrust, expected: str | None, provider_name: str
) -> ValidatedAssertion:
    """Validate with the provider's validator; note in the audit event when a Response signature was accepted."""
    relaxed = sp.accepts_response_signature(provider_name)
    try:
        validated = sp.validator_for(provider_name).validate(
            message, idp=trust, now=env.call.now, expected_in_response_to=expected
        )
    except SamlError as error:
        hint = ""
        if not relaxed and any(p.startswith(_UNSIGNED_ASSERTION) for p in error.problems):
            hint = (f"; SAML provider {provider_name} signs only the Response: the operator can accept that "
                    f"by listing it in {RESPONSE_SIGNED_SETTING}")
        raise _refusal(error, hint) from error
    env.audit_data["samlSigned"] = {"response": validated.response_signed, "assertion": validated.assertion_signed}
    if not validated.assertion_signed:
        env.audit_data["samlResponseSignatureAccepted"] = (
            f"the Assertion is unsigned; the Response signature covering it was accepted because SAML provider "
            f"{provider_name} is listed in {RESPONSE_SIGNED_SETTING}"
        )
    return validated


def roles_from_assertion(
    sp: SamlSp, env: OpEnv, *, saml_response_b64: str, principal_arn: str, expected_in_response_to: str | None = None
) -> tuple[ValidatedAssertion, tuple[RolePair, ...]]:
    """Validate (without consuming it) and list the Role pairs naming ``principal_arn``, for a role picker."""
    _, trust, provider_name = _provider(env, principal_arn)
    validated = _validate(sp, env, saml_response_b64, trust, expected_in_response_to, provider_name)
    try:
        pairs = role_pairs(validated.attributes)
    except SamlError as error:
        raise _refusal(error) from error
    return validated, tuple(p for p in pairs if p.provider_arn == principal_arn)


def _trust_context(
    env: OpEnv, attrs: AwsSamlAttributes, saml_keys: Mapping[str, Any], provider_arn: str, role_tags: Mapping[str, str]
) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "aws:CurrentTime": env.call.now,
        "aws:EpochTime": str(int(env.call.now.timestamp())),
        "aws:SourceIp": env.call.source_ip,
        "aws:SecureTransport": env.call.secure_transport,
        "aws:RequestedRegion": env.call.region,
        "aws:FederatedProvider": provider_arn,
        "sts:RoleSessionName": attrs.session_name,
        **saml_keys,
    }
    if env.call.user_agent:
        ctx["aws:UserAgent"] = env.call.user_agent
    if attrs.source_identity is not None:
        ctx["sts:SourceIdentity"] = attrs.source_identity
    return add_tag_context(
        ctx, role_tags=role_tags, session_tags=attrs.tags, request_tags=attrs.tags,
        transitive_keys=attrs.transitive_tag_keys,
    )


def _role(env: OpEnv, role_arn: str) -> Any:
    try:
        parsed = parse_arn(role_arn)
        name = parsed.name if parsed.service == "iam" and parsed.resource_type == "role" else None
    except ValueError:
        return None
    role = env.tx.iam.get_role(name) if name and parsed.account == env.arns.account else None
    if role is None or env.arns.role(role.name, role.path) != role_arn:
        return None
    return role


def _check_trust(env: OpEnv, role: Any, role_arn: str, provider_arn: str, ctx: Mapping[str, Any],
                 attrs: AwsSamlAttributes) -> None:
    compile_trust = getattr(env.authorizer, "compile_trust", None)
    if compile_trust is not None:
        trust = compile_trust(role.trust_policy, role_arn)
    else:
        trust = policy.compile_policy(role.trust_policy, policy_id=f"{role_arn}#trust", kind="trust")
    pset = policy.PolicySet(resource=[trust], resource_must_allow=True)
    who = policy.PrincipalRef(provider_arn, env.arns.account, "Federated")
    wanted = [ACTION]
    if attrs.tags or attrs.transitive_tag_keys:
        wanted.append("sts:TagSession")
    if attrs.source_identity is not None:
        wanted.append("sts:SetSourceIdentity")
    for action in wanted:
        decision = policy.evaluate(policy.Request(action, role_arn, ctx, principal=who), pset)
        if decision.effect != "Allow":
            raise AccessDenied(NOT_AUTHORIZED, detail=f"{action}: {decision.reason}; matched={list(decision.matched)}")


def saml_session(
    sp: SamlSp,
    env: OpEnv,
    *,
    saml_response_b64: str,
    role_arn: str,
    principal_arn: str,
    duration_seconds: int | None,
    policy: str | None,
    policy_arns: Sequence[Mapping[str, Any]],
    expected_in_response_to: str | None = None,
) -> SamlResult:
    """Validate, consume (replay cache), authorize and mint: the whole of AssumeRoleWithSAML."""
    _, trust, provider_name = _provider(env, principal_arn)
    validated = _validate(sp, env, saml_response_b64, trust, expected_in_response_to, provider_name)
    try:
        attrs = aws_attributes(validated.attributes)
    except SamlError as error:
        raise _refusal(error) from error
    if RolePair(role_arn, principal_arn) not in attrs.roles:
        raise AccessDenied(NOT_AUTHORIZED, detail="the Role attribute does not contain the requested role and provider")
    role = _role(env, role_arn)
    if role is None:
        raise AccessDenied(NOT_AUTHORIZED, detail="no such role in this account")
    tags = check_tags([{"Key": k, "Value": v} for k, v in attrs.tags], list(attrs.transitive_tag_keys), None)
    duration = check_duration(duration_seconds, maximum=role.max_session_duration, chained=False)
    if attrs.session_duration is not None:
        duration = min(duration, attrs.session_duration)
    if validated.session_not_on_or_after is not None:
        remaining = math.floor((validated.session_not_on_or_after - env.call.now).total_seconds())
        duration = max(1, min(duration, remaining))
    session_policy_arns = check_session_policies(env, policy, policy_arns)
    sub_type = subject_type(validated.name_id_format)
    qualifier = name_qualifier(validated.issuer, env.arns.account, provider_name)
    keys = condition_keys(
        validated.attributes, issuer=validated.issuer, recipient=validated.recipient, subject=validated.name_id,
        sub_type=sub_type, namequalifier=qualifier, account=env.arns.account, provider_name=provider_name,
    )
    role_tags = dict(env.tx.iam.get_tags("role", role.id))
    _check_trust(env, role, role_arn, principal_arn, _trust_context(env, attrs, keys, principal_arn, role_tags), attrs)
    replay_id = f"{principal_arn}#{validated.assertion_id}"
    first_use = env.tx.security.remember_once(
        sp.config.replay_namespace, replay_id, validated.not_on_or_after, env.call.now
    )
    if not first_use:
        raise InvalidIdentityToken("Invalid SAML response", detail="the SAML assertion has already been used (replay)")
    sp.role_use.record(env.tx, role.id, role.name, env.call.now, env.call.region)
    spec = SessionSpec(
        kind="assumed-role",
        account=env.arns.account,
        principal_arn=role_arn,
        principal_id=role.id,
        principal_name=role.name,
        duration_seconds=duration,
        session_name=attrs.session_name,
        policy=policy,
        policy_arns=session_policy_arns,
        tags=tags.tags,
        transitive_tag_keys=tags.transitive_keys,
        source_identity=attrs.source_identity,
        federated_provider=principal_arn,
        federated_subject=validated.name_id,
    )
    minted = mint(spec, codec=sp.codec, now=env.call.now, entropy=env.entropy)
    return SamlResult(
        assertion=validated,
        attributes=attrs,
        minted=minted,
        role_arn=role_arn,
        provider_arn=principal_arn,
        assumed_role_arn=env.arns.assumed_role(role.name, attrs.session_name),
        assumed_role_id=f"{role.id}:{attrs.session_name}",
        subject=validated.name_id,
        subject_type=sub_type,
        issuer=validated.issuer,
        audience=validated.recipient,
        name_qualifier=qualifier,
        source_identity=attrs.source_identity,
        packed_policy_size=minted.packed_policy_size,
    )
