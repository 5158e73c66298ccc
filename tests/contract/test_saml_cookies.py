"""The exact Set-Cookie attributes of the SAML browser flow, per scheme (in process, both engines).

The request-state cookie (the AuthnRequest id an IdP's cross-site HTTP-POST to /saml/acs must bring back) is
``SameSite=None; Secure`` over TLS and has no ``SameSite`` attribute over plain HTTP; the role picker's
CSRF-bound cookie keeps ``SameSite=Lax``.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from broker.api.app import create_app
from broker.api.web.cookies import clear_request_state_cookie, set_cookie, set_request_state_cookie
from broker.api.web.saml import LOGIN_COOKIE
from broker.config import Settings
from broker.federation.saml.metadata import parse_idp_metadata
from broker.store.sqlalchemy.store import SqlStore
from idp_fixtures.saml.idp import SamlIdp
from tests.contract.conftest import ACCOUNT, MASTER_KEY

PROVIDER = "corp"


def _headers(response: Response) -> list[str]:
    return [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]


@pytest.mark.parametrize(("secure", "expected"), [
    (True, "state=v; HttpOnly; Max-Age=600; Path=/; SameSite=none; Secure"),
    (False, "state=v; HttpOnly; Max-Age=600; Path=/"),
])
def test_request_state_cookie_attributes(secure: bool, expected: str) -> None:
    response = Response()
    set_request_state_cookie(response, "state", "v", max_age=600, secure=secure)
    assert _headers(response) == [expected]


@pytest.mark.parametrize(("secure", "expected"), [
    (True, 'state=""; expires=*; HttpOnly; Max-Age=0; Path=/; SameSite=none; Secure'),
    (False, 'state=""; expires=*; HttpOnly; Max-Age=0; Path=/'),
])
def test_request_state_cookie_is_cleared_with_the_same_attributes(secure: bool, expected: str) -> None:
    response = Response()
    clear_request_state_cookie(response, "state", secure=secure)
    (header,) = _headers(response)
    assert re.sub(r"expires=[^;]*", "expires=*", header) == expected


@pytest.mark.parametrize(("secure", "expected"), [
    (True, "form=v; HttpOnly; Max-Age=600; Path=/; SameSite=lax; Secure"),
    (False, "form=v; HttpOnly; Max-Age=600; Path=/; SameSite=lax"),
])
def test_form_and_session_cookies_stay_lax(secure: bool, expected: str) -> None:
    response = Response()
    set_cookie(response, "form", "v", max_age=600, secure=secure)
    assert _headers(response) == [expected]


@pytest.fixture(params=["https://broker.example.com", "http://127.0.0.1:8000"])
def app_client(request: pytest.FixtureRequest, store: SqlStore, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    public = str(request.param)
    idp = SamlIdp(entity_id="https://idp.example.org/saml", sp_entity_id=public + "/saml/metadata",
                  sp_acs_url=public + "/saml/acs")
    document = idp.metadata()
    parsed = parse_idp_metadata(document)
    with store.transaction() as tx:
        tx.providers.create_saml(f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER}", PROVIDER, document,
                                 parsed.entity_id, list(parsed.signing_certificates_b64),
                                 None, [], datetime.now(UTC))
    settings = Settings(home=tmp_path, account_id=ACCOUNT, master_key=base64.b64encode(MASTER_KEY).decode(),
                        public_url=public)
    app = create_app(settings, store=store)
    loop = asyncio.new_event_loop()

    def get(url: str) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=public) as c:
                return await c.get(url)

        return loop.run_until_complete(go())

    try:
        yield public, get
    finally:
        loop.close()


def test_the_login_cookie_survives_the_idps_cross_site_post(app_client: tuple[str, Any]) -> None:
    public, get = app_client
    login = get(f"/saml/login?provider={PROVIDER}")
    assert login.status_code == 303, login.text
    (cookie,) = login.headers.get_list("set-cookie")
    name, _, attributes = cookie.partition("; ")
    assert name.startswith(LOGIN_COOKIE + "=")
    if public.startswith("https://"):
        assert attributes == "HttpOnly; Max-Age=600; Path=/; SameSite=none; Secure"
    else:
        assert attributes == "HttpOnly; Max-Age=600; Path=/"
