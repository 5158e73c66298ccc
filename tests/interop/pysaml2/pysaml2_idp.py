"""pysaml2 (PyPI) acting as the IdP: an independent implementation signing through the ``xmlsec1`` program."""

from __future__ import annotations

import base64
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():  # pysaml2 7.5 touches cryptography's moved CFB mode at import
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from broker.federation.saml.config import SpConfig
from broker.federation.saml.sp_metadata import sp_metadata_xml
from idp_fixtures.saml.keys import KeyPair

XMLSEC1 = shutil.which("xmlsec1")
ALGORITHMS = {"sha256": (SIG_RSA_SHA256, DIGEST_SHA256), "sha1": (SIG_RSA_SHA1, DIGEST_SHA1)}


def make_idp(tmp: Path, entity_id: str, key: KeyPair, sp: SpConfig, sp_cert_der: bytes) -> Server:
    (tmp / "idp.key").write_bytes(key.key_pem)
    (tmp / "idp.crt").write_bytes(key.cert_pem)
    metadata = sp_metadata_xml(entity_id=sp.entity_id, acs_url=sp.acs_url, signing_certificates=[sp_cert_der],
                               encryption_certificates=[sp_cert_der])
    conf: dict[str, Any] = {
        "entityid": entity_id,
        "key_file": str(tmp / "idp.key"),
        "cert_file": str(tmp / "idp.crt"),
        "xmlsec_binary": XMLSEC1,
        "crypto_backend": "xmlsec1",
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [("https://idp.example.org/sso", BINDING_HTTP_REDIRECT)]},
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_URI}},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            }
        },
        "metadata": {"inline": [metadata]},
        "allow_unknown_attributes": True,
    }
    config = IdPConfig()
    config.load(conf)
    return Server(config=config)


def response_b64(
    idp: Server, sp: SpConfig, *, name_id: str, attributes: Mapping[str, Sequence[str]], sign_response: bool,
    sign_assertion: bool, in_response_to: str | None = None, algorithm: str = "sha256",
) -> str:
    sig, digest = ALGORITHMS[algorithm]
    response = idp.create_authn_response(
        identity={k: list(v) for k, v in attributes.items()},
        in_response_to=in_response_to,
        destination=sp.acs_url,
        sp_entity_id=sp.entity_id,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=name_id),
        userid=name_id,
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_response=sign_response,
        sign_assertion=sign_assertion,
        sign_alg=sig,
        digest_alg=digest,
        binding=BINDING_HTTP_POST,
    )
    return base64.b64encode(str(response).encode("utf-8")).decode("ascii")
