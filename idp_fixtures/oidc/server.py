"""The fixture IdP over HTTP (FastAPI): discovery, JWKS with fault modes, and admin endpoints.

Admin endpoints (test-only, unauthenticated, loopback): ``POST /admin/token`` (JSON: ``profile``, ``sub``,
``audience``, ``lifetime``, ``claims``, ``headers``) → ``{"id_token": …}``; ``POST /admin/rotate``
(``{"alg": …, "retire_previous": bool}``) → ``{"kid": …}``; ``POST /admin/fault`` (``{"mode": …}``);
``GET /admin/stats``. Authorization-code and device flows live in ``idp_fixtures/oidc/flows.py`` when it
exists: its ``router_for(idp)`` is mounted on this app.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from idp_fixtures.oidc.idp import FAULTS, OidcIdp

__all__ = ["create_app"]


def create_app(idp: OidcIdp) -> FastAPI:
    app = FastAPI(title="fixture OIDC IdP", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.idp = idp

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return idp.discovery()

    @app.get("/jwks")
    async def jwks() -> Response:
        mode = idp.fault
        if mode == "slow":
            await asyncio.sleep(idp.slow_seconds)
        if mode == "down":
            return PlainTextResponse("unavailable", status_code=503)
        if mode == "garbage":
            return PlainTextResponse("<html>definitely not a JWKS</html>")
        if mode == "huge":
            return PlainTextResponse('{"keys": [' + " " * (4 * 1024 * 1024) + "]}", media_type="application/json")
        if mode == "redirect":
            return RedirectResponse("http://elsewhere.invalid/jwks", status_code=302)
        headers = {"Cache-Control": idp.cache_control} if idp.cache_control else {}
        return JSONResponse(idp.jwks(), headers=headers)

    @app.post("/admin/token")
    def token(body: dict[str, Any]) -> dict[str, str]:
        minted = idp.mint(
            now=int(body.get("now", time.time())),
            profile=body.get("profile"),
            sub=body.get("sub"),
            audience=body.get("audience"),
            lifetime=int(body.get("lifetime", 300)),
            claims=body.get("claims"),
            headers=body.get("headers"),
        )
        return {"id_token": minted}

    @app.post("/admin/rotate")
    def rotate(body: dict[str, Any] | None = None) -> dict[str, str]:
        body = body or {}
        key = idp.rotate(body.get("alg"), retire_previous=bool(body.get("retire_previous", False)))
        return {"kid": key.kid}

    @app.post("/admin/fault")
    def fault(body: dict[str, Any]) -> dict[str, str]:
        mode = body.get("mode")
        if mode not in FAULTS:
            raise HTTPException(400, f"mode must be one of {FAULTS}")
        idp.fault = mode
        if "slow_seconds" in body:
            idp.slow_seconds = float(body["slow_seconds"])
        return {"mode": mode}

    @app.get("/admin/stats")
    def stats() -> dict[str, Any]:
        return {"jwks_fetches": idp.jwks_fetches, "kids": [k.kid for k in idp.keyring.keys], "fault": idp.fault}

    try:  # helper-11's authorization-code and device flows
        from idp_fixtures.oidc.flows import router_for  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        app.include_router(router_for(idp))
    return app
