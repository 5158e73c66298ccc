"""Signed SAML Responses for broker's validator tests (xmlsec signer from idp_fixtures.saml.response)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from broker.federation.saml.config import SpConfig, sp_config
from broker.federation.saml.validate import IdpTrust
from idp_fixtures.saml.keys import KeyPair, generate_key_pair
from idp_fixtures.saml.response import ResponseSpec, SignOptions, build_response

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
PUBLIC_URL = "https://broker.example.com"
SP: SpConfig = sp_config(PUBLIC_URL)
IDP_ENTITY = "https://idp.example.org/saml"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SamlAdmin"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"


@cache
def idp_key(name: str = "main", kind: str = "rsa") -> KeyPair:
    return generate_key_pair(f"idp-{name}", kind=kind)


def der(key: KeyPair) -> bytes:
    return x509.load_pem_x509_certificate(key.cert_pem).public_bytes(Encoding.DER)


def trust(*keys: KeyPair) -> IdpTrust:
    return IdpTrust(IDP_ENTITY, tuple(der(k) for k in (keys or (idp_key(),))))


def default_attributes(**extra: Sequence[str]) -> dict[str, Sequence[str]]:
    attrs: dict[str, Sequence[str]] = {
        ROLE_ATTR: [f"{ROLE_ARN},{PROVIDER_ARN}"],
        SESSION_ATTR: ["alice@example.org"],
    }
    attrs.update(extra)
    return attrs


def spec(**changes: Any) -> ResponseSpec:
    base = ResponseSpec(
        issuer=IDP_ENTITY,
        audience=SP.entity_id,
        acs_url=SP.acs_url,
        name_id="alice",
        now=NOW,
        attributes=default_attributes(),
    )
    return base.with_(**changes) if changes else base


def response_element(sign: str = "assertion", key: KeyPair | None = None, **changes: Any) -> etree._Element:
    options = SignOptions(key=key or idp_key(), sign=sign)  # type: ignore[arg-type]
    return build_response(spec(**changes), options)


def b64(xml: bytes | etree._Element) -> str:
    raw = xml if isinstance(xml, bytes) else etree.tostring(xml)
    return base64.b64encode(raw).decode("ascii")


def signed(sign: str = "assertion", key: KeyPair | None = None, options: Mapping[str, Any] | None = None,
           **changes: Any) -> str:
    opts = SignOptions(key=key or idp_key(), sign=sign, **dict(options or {}))  # type: ignore[arg-type]
    return b64(build_response(spec(**changes), opts))
