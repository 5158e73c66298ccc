"""Builders for IdP metadata documents with freshly generated certificates (test helper, no pytest here)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

ENTITY_ID = "https://idp.example.org/saml"


@cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(curve_name: str) -> ec.EllipticCurvePrivateKey:
    curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp192r1": ec.SECP192R1()}[curve_name]
    return ec.generate_private_key(curve)


def certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str = "idp.example.org") -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


@cache
def rsa_cert(bits: int = 2048, cn: str = "idp.example.org") -> bytes:
    return certificate(rsa_key(bits), cn)


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def key_descriptor(cert_b64: str, use: str | None = "signing") -> str:
    use_attr = f' use="{use}"' if use is not None else ""
    return (
        f'<md:KeyDescriptor{use_attr}><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f"<ds:X509Data><ds:X509Certificate>\n{cert_b64}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</md:KeyDescriptor>"
    )


def metadata(
    *key_descriptors: str,
    entity_id: str = ENTITY_ID,
    valid_until: str | None = "2030-01-01T00:00:00Z",
    protocol: str = "urn:oasis:names:tc:SAML:2.0:protocol",
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>',
) -> str:
    if not key_descriptors:
        key_descriptors = (key_descriptor(b64(rsa_cert())),)
    vu = f' validUntil="{valid_until}"' if valid_until is not None else ""
    return (
        f"{prolog}\n"
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}"{vu}>'
        f'<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{protocol}">'
        + "".join(key_descriptors)
        + "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://idp.example.org/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )
