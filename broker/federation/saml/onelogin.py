"""python3-saml as a second opinion, wrapped so its unsafe defaults never apply, and made affordable.

python3-saml (``onelogin.saml2``) defaults ``wantAssertionsSigned`` and ``rejectDeprecatedAlgorithm`` to
off, matches ``Recipient`` by substring and ``Destination`` by prefix, derives "the current URL" from the
Host header, skips the audience check without an ``AudienceRestriction``, compares ``InResponseTo`` only
on the Response, keeps no replay cache, reads wall time, and re-parses its XML schemas on every call.
Here:

- its settings are built from :class:`~broker.federation.saml.config.SpConfig` with every check on
  (``strict``, ``wantAssertionsSigned`` as configured, ``rejectDeprecatedAlgorithm``, ``wantNameId``,
  ``wantAttributeStatement``), and "the current URL" is the configured ACS URL, never a request header;
- its clock reads the ``now`` broker passes (a context variable, so threads do not interfere);
- broker's own exact checks (:mod:`~broker.federation.saml.assertion`) run first and are authoritative.

Cost (measurements: docs/performance.md; what and why: docs/saml/validation.md). As shipped, one ``is_valid``
re-reads and compiles the protocol schema, base64-decodes and parses the message again, compiles each of its
~31 XPath expressions, parses four timestamps with ``strptime`` and verifies the signature again with a key
rebuilt from PEM. For the version in :data:`TESTED_VERSIONS` only, a small adapter caches what does not depend
on the message and shares what broker already did for the same message:

- the schema is parsed once per process (``validate_xml`` is replaced by a twin with a cached schema);
- ``OneLogin_Saml2_XML.query`` evaluates a compiled ``etree.XPath`` per expression (cached by the
  expression text, which is always one of the library's constant strings; message values such as IDs are
  passed as XPath variables);
- ``parse_SAML_to_time`` reads the canonical ``YYYY-MM-DDThh:mm:ss[.f]Z`` form with a regular expression
  and hands anything else to the library's own function (same result, proven by tests);
- :func:`cross_check` runs ``is_valid`` on the tree broker already parsed (broker's parser is stricter:
  it refuses the comments and processing instructions python3-saml's parser would drop, so both see the
  same elements) and answers python3-saml's signature question (``validate_node_sign``) from broker's
  verification of the same ``ds:Signature`` element: true only for a signature element that broker's
  xmlsec verification accepted, in this very tree, with the certificate python3-saml asks about. XML
  signature wrapping is about a verified signature covering another element than the one processed: here
  the element python3-saml selects by its own XPath must *be* the element broker verified, and broker
  verified it only after checking that its single Reference points to its parent, that every ID in the
  document is unique and that only the SAML profile's transforms run. python3-saml's own structural
  signature checks (signed elements, reference URIs, deprecated algorithms, one signature per element)
  still run unchanged;
- an encrypted Response is checked the same way: python3-saml gets the Response as received and broker's
  copy of it with the decrypted Assertion in place (what its constructor builds with the same xmlsec call
  and key), and the assertion signature python3-saml asks about must be the one broker verified in that
  copy. Without the adapter python3-saml decrypts on its own with the SP key that opened the assertion.

With another python3-saml version none of the adapter is installed (only the clock), and
:func:`cross_check` runs the library exactly as shipped: slower, never weaker.
"""

from __future__ import annotations

import base64
import calendar
import contextvars
import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from importlib.metadata import version
from os.path import dirname, join
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2 import xml_utils as _xml_utils  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError  # type: ignore[import-untyped]
from onelogin.saml2.response import OneLogin_Saml2_Response  # type: ignore[import-untyped]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # type: ignore[import-untyped]

from broker.federation.saml.config import SpConfig
from broker.federation.saml.errors import SamlError

__all__ = ["ADAPTED", "TESTED_VERSIONS", "cross_check", "onelogin_settings", "request_data"]

TESTED_VERSIONS = frozenset({"1.16.0"})
"""python3-saml versions whose internals the adapter below was read against and tested with."""
ADAPTED = version("python3-saml") in TESTED_VERSIONS

_now: contextvars.ContextVar[int] = contextvars.ContextVar("broker_saml_now")
_verified: contextvars.ContextVar[tuple[tuple[etree._Element, bytes], ...] | None] = contextvars.ContextVar(
    "broker_saml_verified", default=None
)
_memo: contextvars.ContextVar[dict[tuple[Any, str, str | None], tuple[Any, ...]] | None] = contextvars.ContextVar(
    "broker_saml_query_memo", default=None
)
_SCHEMA_DIR = join(dirname(_xml_utils.__file__), "schemas")

_library_now = OneLogin_Saml2_Utils.now
_library_query = OneLogin_Saml2_XML.query
_library_parse_time = OneLogin_Saml2_Utils.parse_SAML_to_time
_library_validate_node_sign = OneLogin_Saml2_Utils.validate_node_sign


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


@lru_cache(maxsize=128)
def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, namespaces=OneLogin_Saml2_Constants.NSMAP)


def _query(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
    """``OneLogin_Saml2_XML.query`` with the expression compiled once (lxml's XPath objects lock per call).

    Inside one shared-tree :func:`cross_check` (a tree that cannot change while ``is_valid`` reads it: broker
    refused its comments, the only thing python3-saml strips) a repeated query is answered from a memo of
    that call (``_query_assertion`` asks for the assertion's signature reference nine times)."""
    source = dom if context is None else context
    memo = _memo.get()
    key = (source, query, tagid)
    if memo is not None and key in memo:
        return list(memo[key])
    found = _xpath(query)(source) if tagid is None else _xpath(query)(source, tagid=tagid)
    if memo is not None and isinstance(found, list):
        memo[key] = tuple(found)
    return found


_SAML_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,6})?Z\Z")


def _parse_saml_time(timestr: Any) -> Any:
    """``parse_SAML_to_time`` for the canonical form; every other input goes to the library's function."""
    match = _SAML_TIME.match(timestr) if isinstance(timestr, str) else None
    if match is not None:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        try:
            datetime(year, month, day, hour, minute, second)  # the range checks strptime makes
        except ValueError:
            pass
        else:
            return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return _library_parse_time(timestr)


@lru_cache(maxsize=64)
def _der(cert_pem: str) -> bytes:
    return base64.b64decode(OneLogin_Saml2_Utils.format_cert(cert_pem, heads=False))


def _validate_node_sign(
    signature_node: Any, elem: Any, cert: Any = None, fingerprint: Any = None, fingerprintalg: str = "sha1",
    validatecert: bool = False, debug: bool = False, raise_exceptions: bool = False,
) -> bool:
    """Inside :func:`cross_check` on broker's tree: is ``signature_node`` one broker verified with ``cert``?"""
    verified = _verified.get()
    if verified is None or validatecert or fingerprint or not cert:
        return bool(_library_validate_node_sign(
            signature_node, elem, cert, fingerprint, fingerprintalg, validatecert, debug,
            raise_exceptions=raise_exceptions,
        ))
    der = _der(cert)
    if any(node is signature_node and by == der for node, by in verified):
        return True
    if raise_exceptions:
        raise OneLogin_Saml2_ValidationError(
            "Signature validation failed. SAML Response rejected.", OneLogin_Saml2_ValidationError.INVALID_SIGNATURE
        )
    return False


OneLogin_Saml2_Utils.now = staticmethod(_clock)
if ADAPTED:
    OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)
    OneLogin_Saml2_XML.query = staticmethod(_query)
    OneLogin_Saml2_Utils.parse_SAML_to_time = staticmethod(_parse_saml_time)
    OneLogin_Saml2_Utils.validate_node_sign = staticmethod(_validate_node_sign)


class _ParsedResponse(OneLogin_Saml2_Response):  # type: ignore[misc]
    """A Response over a tree broker already parsed: ``OneLogin_Saml2_Response.__init__`` (1.16.0) minus the
    base64 decoding and parsing, and, for an ``EncryptedAssertion``, minus the decryption: ``decrypted`` is
    broker's copy of the Response with the decrypted Assertion in place, which is what the constructor's
    ``_decrypt_assertion(deepcopy(document))`` builds (same xmlsec call, same key)."""

    def __init__(
        self, settings: OneLogin_Saml2_Settings, document: etree._Element, decrypted: etree._Element | None = None
    ) -> None:
        self._settings = settings
        self._error = None
        self.response = None
        self.document = document
        self.decrypted_document = decrypted
        self.encrypted = True if decrypted is not None else None
        self.valid_scd_not_on_or_after = None


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


@lru_cache(maxsize=256)
def _settings_for(sp: SpConfig, idp_entity_id: str, certificates_der: tuple[bytes, ...]) -> OneLogin_Saml2_Settings:
    return _settings(sp, idp_entity_id, tuple(base64.b64encode(c).decode("ascii") for c in certificates_der))


def _settings_with_key(
    sp: SpConfig, idp_entity_id: str, certificates_der: tuple[bytes, ...], private_key_pem: bytes
) -> OneLogin_Saml2_Settings:
    """Settings that let python3-saml decrypt on its own (general path only; never cached: key material)."""
    data = onelogin_settings(sp, idp_entity_id, tuple(base64.b64encode(c).decode("ascii") for c in certificates_der))
    data["sp"]["privateKey"] = private_key_pem.decode("ascii")
    return OneLogin_Saml2_Settings(data, sp_validation_only=True)


_ENCRYPTED_XPATH = "/samlp:Response/saml:EncryptedAssertion"


def request_data(acs_url: str) -> dict[str, str]:
    """python3-saml's "request" built from the configured ACS URL, never from request headers."""
    parts = urlsplit(acs_url)
    return {"https": "on" if parts.scheme == "https" else "off", "http_host": parts.netloc, "script_name": parts.path}


def cross_check(
    message_b64: str,
    *,
    sp: SpConfig,
    idp: Any,
    now: datetime,
    expected_in_response_to: str | None,
    document: etree._Element | None = None,
    verified: Sequence[tuple[etree._Element, bytes]] = (),
    decrypted: etree._Element | None = None,
    sp_private_key: bytes | None = None,
) -> None:
    """Run python3-saml's strict ``is_valid``; raise :class:`SamlError` with its reason when it refuses.

    ``document`` is broker's parse of ``message_b64`` and ``verified`` the signature elements broker's xmlsec
    verification accepted in it (:attr:`~broker.federation.saml.signature.SignedParts.verified`). With both,
    and the adapter installed, python3-saml checks that tree and relies on that verification (module
    docstring); otherwise it decodes, parses and verifies on its own.

    An encrypted Response: ``decrypted`` is broker's copy of it with the decrypted Assertion in place, and
    ``verified`` includes the assertion's signature verified inside it; python3-saml then checks ``document``
    and ``decrypted`` as its constructor would have built them. On the general path python3-saml decrypts
    on its own with ``sp_private_key`` (the SP key that opened the assertion for broker).
    """
    certificates = tuple(idp.certificates)
    settings = _settings_for(sp, idp.entity_id, certificates)
    shared = document if ADAPTED and verified else None
    if shared is None and sp_private_key is not None:
        settings = _settings_with_key(sp, idp.entity_id, certificates, sp_private_key)
    # python3-saml compares upper bounds without drift: give it ``now - skew`` so it is never stricter
    # than broker's own windowed checks, which ran first.
    token = _now.set(calendar.timegm(now.utctimetuple()) - sp.clock_skew_seconds)
    shared_token = _verified.set(tuple(verified) if shared is not None else None)
    memo_token = _memo.set({} if shared is not None else None)
    try:
        if shared is not None:
            encrypted = bool(_xpath(_ENCRYPTED_XPATH)(shared))
            if encrypted != (decrypted is not None):
                raise SamlError(["python3-saml cross-check: an encrypted Response needs its decrypted copy"
                                 if encrypted else "python3-saml cross-check: a decrypted copy of a plain Response"])
            response = _ParsedResponse(settings, shared, decrypted)
            if response._query(_ENCRYPTED_XPATH):
                raise SamlError(["python3-saml cross-check: the decrypted Response is still encrypted"])
        else:
            response = OneLogin_Saml2_Response(settings, message_b64)
        ok = response.is_valid(request_data(sp.acs_url), expected_in_response_to)
    except SamlError:
        raise
    except Exception as exc:  # python3-saml raises many types; any means "refused"
        raise SamlError([f"python3-saml refused the response: {type(exc).__name__}"]) from exc
    finally:
        _memo.reset(memo_token)
        _verified.reset(shared_token)
        _now.reset(token)
    if not ok:
        raise SamlError([f"python3-saml refused the response: {response.get_error()}"])
