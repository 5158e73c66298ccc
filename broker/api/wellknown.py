"""The broker's own discovery documents, so services can verify the access tokens it issues (SPEC.md §3.2).

- ``GET /.well-known/openid-configuration``: authorization server metadata. Members per RFC 8414 §2
  (https://www.rfc-editor.org/rfc/rfc8414#section-2) and OpenID Connect Discovery 1.0 §3
  (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata): ``issuer`` (``BROKER_PUBLIC_URL``,
  the ``iss`` of every token broker signs), ``jwks_uri``, ``token_endpoint``, ``grant_types_supported`` (token
  exchange only), ``token_endpoint_auth_methods_supported`` (``none``: broker registers no clients), and the signing
  algorithms of the keys it holds. broker has no authorization endpoint of its own, so ``response_types_supported``
  is empty.
- ``GET /.well-known/jwks.json``: RFC 7517 §5 JWK Set of the public halves of every unpurged JWT signing key
  (the active one and retired ones whose tokens may still be valid), newest first, from the keyring.

Both are cacheable for a short time (``max-age=60``); a verifier that meets an unknown ``kid`` should refetch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from broker.service.token_exchange import ACCESS_TOKEN, AWS_CREDENTIALS, GRANT_TYPE

if TYPE_CHECKING:
    from broker.api.app import Broker

__all__ = ["discovery_document", "install_wellknown", "router"]

_CACHE = {"Cache-Control": "public, max-age=60"}

router = APIRouter()


def discovery_document(issuer: str, algorithms: list[str], subject_types: list[str]) -> dict[str, Any]:
    """The metadata document for ``issuer`` (no trailing slash) signing with ``algorithms`` and accepting the
    ``subject_types`` token types at its token endpoint."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/oauth2/token",
        "grant_types_supported": [GRANT_TYPE],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "subject_token_types_supported": subject_types,
        "requested_token_types_supported": [AWS_CREDENTIALS, ACCESS_TOKEN],
    }


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


@router.get("/.well-known/openid-configuration")
def openid_configuration(request: Request) -> JSONResponse:
    broker = _broker(request)
    assert broker.keyring is not None
    keyring = broker.keyring.keyring
    algorithms = sorted({k.algorithm for k in keyring.of("jwt-signing")})
    subject_types = sorted(getattr(request.app.state, "oauth_subject_types", {}))
    document = discovery_document(broker.settings.effective_public_url, algorithms, subject_types)
    return JSONResponse(document, headers=_CACHE)


@router.get("/.well-known/jwks.json")
def jwks(request: Request) -> JSONResponse:
    broker = _broker(request)
    assert broker.keyring is not None
    return JSONResponse(broker.keyring.keyring.jwks(), headers=_CACHE)


def install_wellknown(app: FastAPI) -> None:
    """Mount the two discovery routes (the app's broker must hold a keyring)."""
    app.include_router(router)
