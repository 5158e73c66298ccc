"""AWS's SAML attributes and the ``saml:`` condition keys (pure; no XML, no I/O).

IAM User Guide, "Configure SAML assertions for the authentication response"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html):

- ``https://aws.amazon.com/SAML/Attributes/Role``: one or more values ``role-arn,provider-arn`` (AWS
  accepts either order);
- ``…/RoleSessionName``: required, 2-64 characters of ``[\\w+=,.@-]``;
- ``…/SessionDuration``: 900-43200 seconds;
- ``…/SourceIdentity``: 2-64 characters ``[\\w+=,.@-]``, not beginning with ``aws:``
  ("Monitor and control actions taken with assumed roles",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html);
- ``…/PrincipalTag:KEY``, ``…/TransitiveTagKeys`` ("Passing session tags using AssumeRoleWithSAML",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_adding-assume-role-saml).

Condition keys: IAM User Guide, "Available keys for SAML-based AWS STS federation"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-saml)
and "Uniquely identifying users in SAML-based federation"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_saml.html#CreatingSAML-userid):
``saml:namequalifier`` = Base64(SHA1(Issuer + AccountID + "/" + provider name)), ``saml:doc`` =
``ACCOUNT/PROVIDER``, ``saml:sub_type`` is ``persistent``/``transient`` or the full Format URI.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from broker.federation.saml.errors import SamlError

__all__ = [
    "ATTR",
    "AwsSamlAttributes",
    "RolePair",
    "aws_attributes",
    "condition_keys",
    "name_qualifier",
    "role_pairs",
    "subject_type",
]

ATTR = "https://aws.amazon.com/SAML/Attributes/"
ROLE = ATTR + "Role"
SESSION_NAME = ATTR + "RoleSessionName"
SESSION_DURATION = ATTR + "SessionDuration"
SOURCE_IDENTITY = ATTR + "SourceIdentity"
PRINCIPAL_TAG = ATTR + "PrincipalTag:"
TRANSITIVE = ATTR + "TransitiveTagKeys"
_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_ROLE_RE = re.compile(r"arn:[a-z][a-z0-9-]*:iam::\d{12}:role/[\w+=,.@/-]{1,576}", re.ASCII)
_PROVIDER_RE = re.compile(r"arn:[a-z][a-z0-9-]*:iam::\d{12}:saml-provider/[\w._-]{1,128}")
_NAMEID_PREFIX = "urn:oasis:names:tc:SAML:2.0:nameid-format:"

_SCALAR_KEYS = {
    "commonname": "commonName", "givenname": "givenName", "surname": "surname", "mail": "mail", "name": "name",
    "uid": "uid", "x500uniqueidentifier": "x500UniqueIdentifier", "organizationstatus": "organizationStatus",
    "primarygroupsid": "primaryGroupSID", "edupersonorgdn": "edupersonorgdn",
    "edupersonprimaryaffiliation": "edupersonprimaryaffiliation",
    "edupersonprimaryorgunitdn": "edupersonprimaryorgunitdn", "edupersonprincipalname": "edupersonprincipalname",
}
_LIST_KEYS = {
    "cn", "edupersonaffiliation", "edupersonassurance", "edupersonentitlement", "edupersonnickname",
    "edupersonorgunitdn", "edupersonscopedaffiliation", "edupersontargetedid", "eduorghomepageuri",
    "eduorgidentityauthnpolicyuri", "eduorglegalname", "eduorgsuperioruri", "eduorgwhitepagesuri",
}
_OIDS = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "edupersonaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": "edupersonnickname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": "edupersonorgdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": "edupersonorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": "edupersonprimaryaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "edupersonprincipalname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": "edupersonentitlement",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": "edupersonprimaryorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": "edupersonscopedaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": "edupersontargetedid",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": "edupersonassurance",
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.2": "eduorghomepageuri",
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.3": "eduorgidentityauthnpolicyuri",
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.4": "eduorglegalname",
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.5": "eduorgsuperioruri",
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.6": "eduorgwhitepagesuri",
    "urn:oid:2.5.4.3": "cn",
}
_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
_AD_CLAIMS = {
    _CLAIMS + "emailaddress": "mail", _CLAIMS + "givenname": "givenName", _CLAIMS + "surname": "surname",
    _CLAIMS + "name": "name", _CLAIMS + "upn": "edupersonprincipalname",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": "primaryGroupSID",
}


@dataclass(frozen=True, slots=True)
class RolePair:
    role_arn: str
    provider_arn: str


@dataclass(frozen=True, slots=True)
class AwsSamlAttributes:
    """The AWS attributes of one assertion, validated."""

    roles: tuple[RolePair, ...]
    session_name: str
    session_duration: int | None
    source_identity: str | None
    tags: tuple[tuple[str, str], ...]
    transitive_tag_keys: tuple[str, ...]


def role_pairs(attributes: Mapping[str, tuple[str, ...]]) -> tuple[RolePair, ...]:
    """The ``Role`` attribute's ``role,provider`` pairs (either order); malformed values are refused."""
    pairs: list[RolePair] = []
    problems: list[str] = []
    for value in attributes.get(ROLE, ()):
        parts = [p.strip() for p in value.split(",")]
        role = next((p for p in parts if _ROLE_RE.fullmatch(p)), None)
        provider = next((p for p in parts if _PROVIDER_RE.fullmatch(p)), None)
        if len(parts) != 2 or role is None or provider is None:
            problems.append(f"the Role attribute value {value[:200]!r} is not 'role-arn,provider-arn'")
            continue
        pairs.append(RolePair(role, provider))
    if problems:
        raise SamlError(problems)
    return tuple(pairs)


def _single(attributes: Mapping[str, tuple[str, ...]], name: str, problems: list[str]) -> str | None:
    values = attributes.get(name)
    if values is None:
        return None
    if len(values) != 1:
        problems.append(f"the attribute {name} must have exactly one value")
        return None
    return values[0]


def aws_attributes(attributes: Mapping[str, tuple[str, ...]]) -> AwsSamlAttributes:
    """Validate the AWS attributes; ``SamlError`` (``InvalidIdentityToken``) names every problem."""
    problems: list[str] = []
    try:
        roles = role_pairs(attributes)
    except SamlError as exc:
        problems.extend(exc.problems)
        roles = ()
    name = _single(attributes, SESSION_NAME, problems)
    if name is None and SESSION_NAME not in attributes:
        problems.append("RoleSessionName is required in AuthnResponse")
    elif name is not None and not _NAME_RE.fullmatch(name):
        problems.append("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
    duration: int | None = None
    raw = _single(attributes, SESSION_DURATION, problems)
    if raw is not None:
        if not raw.isdigit() or not 900 <= int(raw) <= 43200:
            problems.append("SessionDuration in AuthnResponse must be an integer from 900 to 43200")
        else:
            duration = int(raw)
    source = _single(attributes, SOURCE_IDENTITY, problems)
    if source is not None and (not _NAME_RE.fullmatch(source) or source.lower().startswith("aws:")):
        problems.append('Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with "aws:"')
    tags: list[tuple[str, str]] = []
    for key, values in attributes.items():
        if key.startswith(PRINCIPAL_TAG):
            tag = key[len(PRINCIPAL_TAG):]
            if len(values) != 1:
                problems.append(f"the session tag attribute PrincipalTag:{tag[:128]} must have exactly one value")
                continue
            if not tag or len(tag) > 128 or len(values[0]) > 256:
                problems.append(f"the session tag PrincipalTag:{tag[:128]} has an invalid key or value length")
                continue
            tags.append((tag, values[0]))
    transitive = tuple(attributes.get(TRANSITIVE, ()))
    if problems:
        raise SamlError(problems)
    return AwsSamlAttributes(roles, name or "", duration, source, tuple(tags), transitive)


def subject_type(name_id_format: str | None) -> str:
    """``SubjectType``/``saml:sub_type``: ``persistent``/``transient``/… with the SAML 2.0 prefix dropped."""
    fmt = name_id_format or "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    return fmt[len(_NAMEID_PREFIX):] if fmt.startswith(_NAMEID_PREFIX) else fmt


def name_qualifier(issuer: str, account: str, provider_name: str) -> str:
    """AWS's formula: Base64(SHA1(Issuer + AccountID + "/" + provider name)) — an identifier, not a signature."""
    digest = hashlib.sha1((issuer + account + "/" + provider_name).encode("utf-8"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def condition_keys(
    attributes: Mapping[str, tuple[str, ...]],
    *,
    issuer: str,
    recipient: str,
    subject: str,
    sub_type: str,
    namequalifier: str,
    account: str,
    provider_name: str,
) -> dict[str, str | list[str]]:
    """The ``saml:`` keys of a trust-policy evaluation (documented names; list keys stay lists)."""
    ctx: dict[str, str | list[str]] = {
        "saml:aud": recipient,
        "saml:iss": issuer,
        "saml:sub": subject,
        "saml:sub_type": sub_type,
        "saml:namequalifier": namequalifier,
        "saml:doc": f"{account}/{provider_name}",
    }
    for name, values in attributes.items():
        key = _OIDS.get(name) or _AD_CLAIMS.get(name) or name
        lowered = key.lower()
        if lowered in _LIST_KEYS:
            ctx[f"saml:{lowered}"] = list(values)
        elif lowered in _SCALAR_KEYS and values:
            ctx[f"saml:{_SCALAR_KEYS[lowered]}"] = values[0]
    return ctx
