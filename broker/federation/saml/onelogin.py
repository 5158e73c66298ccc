"""python3-saml as a second opinion, wrapped so its unsafe defaults never apply.

python3-saml (``onelogin.saml2``) defaults ``wantAssertionsSigned`` and ``rejectDeprecatedAlgorithm`` to
off, matches ``Recipient`` by substring and ``Destination`` by prefix, derives "the current URL" from the
Host header, skips the audience check without an ``AudienceRestriction``, compares ``InResponseTo`` only
on the Response, keeps no replay cache, reads wall time, and re-parses its XML schemas on every call.
Here:

- its settings are built from :class:`~broker.federation.saml.config.SpConfig` with every check on
  (``strict``, ``wantAssertionsSigned`` as configured, ``rejectDeprecatedAlgorithm``, ``wantNameId``,
  ``wantAttributeStatement``), and "the current URL" is the configured ACS URL, never a request header;
- its clock reads the ``now`` broker passes (a context variable, so threads do not interfere);
- the SAML protocol schema is parsed once per process (``validate_xml`` is replaced by a cached twin);
- broker's own exact checks (:mod:`~broker.federation.saml.assertion`) run first and are authoritative.
"""

from __future__ import annotations

import calendar
import contextvars
from datetime import datetime
from functools import lru_cache
from os.path import dirname, join
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2 import xml_utils as _xml_utils  # type: ignore[import-untyped]
from onelogin.saml2.response import OneLogin_Saml2_Response  # type: ignore[import-untyped]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # type: ignore[import-untyped]

from broker.federation.saml.config import SpConfig
from broker.federation.saml.errors import SamlError

__all__ = ["cross_check", "onelogin_settings", "request_data"]

_now: contextvars.ContextVar[int] = contextvars.ContextVar("broker_saml_now")
_SCHEMA_DIR = join(dirname(_xml_utils.__file__), "schemas")


_library_now = OneLogin_Saml2_Utils.now


def _clock() -> int:
    # Inside cross_check python3-saml sees broker's clock. Outside it (other users of the library in the same
    # process, such as test fixtures) it keeps its own: broker never calls python3-saml outside cross_check.
    try:
        return _now.get()
    except LookupError:
        return int(_library_now())


@lru_cache(maxsize=8)
def _schema(name: str) -> etree.XMLSchema:
    with open(join(_SCHEMA_DIR, name), "rb") as handle:
        return etree.XMLSchema(etree.parse(handle))


def _validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    try:
        tree = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # python3-saml's own contract: a string code on failure
        return "unloaded_xml"
    if not _schema(schema).validate(tree):
        return "invalid_xml"
    return tree


OneLogin_Saml2_Utils.now = staticmethod(_clock)
OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)


def onelogin_settings(sp: SpConfig, idp_entity_id: str, certificates_b64: tuple[str, ...]) -> dict[str, Any]:
    """python3-saml's settings dictionary with every check on."""
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp.entity_id,
            "assertionConsumerService": {
                "url": sp.acs_url,
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
            "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:unspecified",
        },
        "idp": {
            "entityId": idp_entity_id,
            "singleSignOnService": {"url": sp.acs_url, "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"},
            "x509certMulti": {"signing": list(certificates_b64)},
        },
        "security": {
            "wantAssertionsSigned": sp.want_assertions_signed,
            "wantMessagesSigned": False,
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAttributeStatement": True,
            "rejectDeprecatedAlgorithm": True,
            "allowRepeatAttributeName": True,
            "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
        },
    }


@lru_cache(maxsize=256)
def _settings(sp: SpConfig, idp_entity_id: str, certificates_b64: tuple[str, ...]) -> OneLogin_Saml2_Settings:
    return OneLogin_Saml2_Settings(onelogin_settings(sp, idp_entity_id, certificates_b64), sp_validation_only=True)


def request_data(acs_url: str) -> dict[str, str]:
    """python3-saml's "request" built from the configured ACS URL, never from request headers."""
    parts = urlsplit(acs_url)
    return {"https": "on" if parts.scheme == "https" else "off", "http_host": parts.netloc, "script_name": parts.path}


def cross_check(
    message_b64: str, *, sp: SpConfig, idp: Any, now: datetime, expected_in_response_to: str | None
) -> None:
    """Run python3-saml's strict ``is_valid``; raise :class:`SamlError` with its reason when it refuses."""
    import base64

    certs = tuple(base64.b64encode(c).decode("ascii") for c in idp.certificates)
    settings = _settings(sp, idp.entity_id, certs)
    # python3-saml compares upper bounds without drift: give it ``now - skew`` so it is never stricter
    # than broker's own windowed checks, which ran first.
    token = _now.set(calendar.timegm(now.utctimetuple()) - sp.clock_skew_seconds)
    try:
        response = OneLogin_Saml2_Response(settings, message_b64)
        ok = response.is_valid(request_data(sp.acs_url), expected_in_response_to)
    except Exception as exc:  # python3-saml raises many types; any means "refused"
        raise SamlError([f"python3-saml refused the response: {type(exc).__name__}"]) from exc
    finally:
        _now.reset(token)
    if not ok:
        raise SamlError([f"python3-saml refused the response: {response.get_error()}"])
