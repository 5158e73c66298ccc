"""A runnable SAML 2.0 IdP for tests and demos (``python -m idp_fixtures.saml``).

Importable pieces: :class:`SamlIdp` (users, keys with rollover, signing/encryption options, faults),
:class:`User`, :func:`build_response`/:class:`ResponseSpec`/:class:`SignOptions` for single documents,
:data:`FAULTS` (post-signing attacks), :class:`RunningIdp` (HTTP in a thread).
"""

from idp_fixtures.saml.faults import FAULTS, apply_fault
from idp_fixtures.saml.idp import AuthnRequestInfo, SamlIdp, User, auto_post_form, decode_redirect_message
from idp_fixtures.saml.keys import KeyPair, generate_key_pair
from idp_fixtures.saml.response import (
    AWS_ROLE,
    AWS_ROLE_SESSION_NAME,
    AWS_SESSION_DURATION,
    ResponseSpec,
    SignOptions,
    build_response,
    encode_response,
)
from idp_fixtures.saml.server import RunningIdp, serve_in_thread

__all__ = [
    "AWS_ROLE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_SESSION_DURATION",
    "FAULTS",
    "AuthnRequestInfo",
    "KeyPair",
    "ResponseSpec",
    "RunningIdp",
    "SamlIdp",
    "SignOptions",
    "User",
    "apply_fault",
    "auto_post_form",
    "build_response",
    "decode_redirect_message",
    "encode_response",
    "generate_key_pair",
    "serve_in_thread",
]
