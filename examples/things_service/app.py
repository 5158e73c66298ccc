"""The "things" service: GET/PUT ``/things/{name}``, protected by :class:`broker.api.middleware.PdpMiddleware`.

Requests are signed with SigV4 for the service name ``example`` (or carry a broker bearer token whose
``aud`` is ``EXAMPLE_AUDIENCE``). The route table below maps each request to an IAM action and resource:

==================  ====================  ===========================================
request             action                resource
==================  ====================  ===========================================
GET /things/{name}  example:GetThing      arn:aws:example:::thing/{name}
PUT /things/{name}  example:PutThing      arn:aws:example:::thing/{name}
GET /healthz        (public)
==================  ====================  ===========================================

Configuration is broker's own (``BROKER_DATABASE_URL``, ``BROKER_MASTER_KEY`` or ``BROKER_HOME``,
``BROKER_ACCOUNT_ID``): the service reads keys, policies and revocations from broker's store and decides
in process. ``EXAMPLE_POLICY_REFRESH_SECONDS`` bounds how stale a policy may be (default 30).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from broker.api.middleware import PdpMiddleware, Target
from broker.config import Settings
from broker.pdp import LocalPdp, open_local_pdp

__all__ = ["SERVICE", "create_app", "route"]

SERVICE = "example"
_THING = re.compile(r"\A/things/([A-Za-z0-9_.-]{1,64})\Z")


def route(method: str, path: str) -> Target | None:
    """Method and path → what the request asks to do; ``None`` for public paths (no check)."""
    if path == "/healthz":
        return None
    found = _THING.match(path)
    if found is None:  # unknown paths are still checked: nobody is allowed "example:Unknown"
        return Target("example:Unknown", "*")
    action = {"GET": "example:GetThing", "PUT": "example:PutThing"}.get(method, "example:Unknown")
    return Target(action, f"arn:aws:example:::thing/{found[1]}")


def create_app(local: LocalPdp | None = None, *, audience: str | None = None) -> FastAPI:
    """The service; ``local`` defaults to a PDP over the store named by the ``BROKER_*`` environment."""
    if local is None:
        refresh = float(os.environ.get("EXAMPLE_POLICY_REFRESH_SECONDS", "30"))
        audience = audience or os.environ.get("EXAMPLE_AUDIENCE")
        local = open_local_pdp(Settings(), audiences=[audience] if audience else (), poll_seconds=min(refresh, 2.0),
                               policy_refresh_seconds=refresh)
    pdp_holder = local

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pdp_holder.start()
        try:
            yield
        finally:
            pdp_holder.stop()

    app = FastAPI(title="things", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    things: dict[str, str] = {}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/things/{name}")
    def get_thing(name: str, request: Request) -> dict[str, Any]:
        return {"name": name, "value": things.get(name), "caller": request.state.principal.arn}

    @app.put("/things/{name}")
    async def put_thing(name: str, request: Request) -> dict[str, Any]:
        things[name] = (await request.body()).decode("utf-8", "replace")
        return {"name": name, "value": things[name], "caller": request.state.principal.arn}

    app.add_middleware(PdpMiddleware, pdp=local.pdp, resolve=route, service=SERVICE, audience=audience)
    return app
