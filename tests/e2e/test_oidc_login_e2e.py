"""The OIDC browser login end to end, through HTTP with real redirects and cookies: httpx follows broker's
``/oidc/login`` to the fixture IdP's sign-in page, submits it, follows the code back to ``/oidc/callback``, picks a
role on broker's page and uses the credentials page's keys with boto3. Refusals are 4xx pages with nothing minted."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ACCOUNT, Server
from tests.e2e.oidc_flows_support import (  # noqa: F401 (fixture)
    ADMIN_ROLE,
    CI_ROLE,
    DEV_ROLE,
    OPS_ROLE,
    WEB_CLIENT,
    Idp,
    broker_for,
    hidden,
    idp_fixture,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[Server]:
    yield from broker_for("login", tmp_path_factory, idp, request.param)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        yield client


def sign_in(client: httpx.Client, server: Server, idp: Idp, *, sub: str = "alice", email: str = "alice@example.com",
            decision: str = "allow", **query: str) -> tuple[httpx.Client, httpx.Response]:
    params = {"provider": idp.provider_arn, "client_id": WEB_CLIENT, **query}
    page = client.get(server.url + "/oidc/login", params=params)
    assert page.status_code == 200, page.text
    assert str(page.url).startswith(idp.url + "/authorize?")
    assert "code_challenge_method=S256" in str(page.url) and "nonce=" in str(page.url)
    back = client.post(idp.url + "/authorize", data={
        "request_id": hidden(page.text, "request_id"), "sub": sub, "email": email, "decision": decision,
    })
    return client, back


def roles_on(page: str) -> list[str]:
    return re.findall(r'name=role_arn value="([^"]+)"', page)


def pick(client: httpx.Client, server: Server, picker: str, role: str, duration: str = "",
         **headers: str) -> httpx.Response:
    return client.post(server.url + "/oidc/session", data={
        "role_arn": role, "duration_seconds": duration, "csrf_token": hidden(picker, "csrf_token"),
    }, headers=headers)


def creds_from(page: str) -> dict[str, str]:
    text = html.unescape(page)
    found = dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", text))
    return found


def test_browser_login_lists_admitted_roles_and_issues_clamped_credentials(
    server: Server, idp: Idp, browser: httpx.Client
) -> None:
    client, picker = sign_in(browser, server, idp, duration_seconds="9000")
    assert picker.status_code == 200, picker.text
    assert str(picker.url).startswith(server.url + "/oidc/callback?")
    assert roles_on(picker.text) == [DEV_ROLE, OPS_ROLE]  # sorted by ARN; web-admin and ci-deploy do not admit alice
    assert ADMIN_ROLE not in picker.text and CI_ROLE not in picker.text
    assert 'value="9000"' in picker.text
    assert picker.headers["cache-control"] == "no-store"
    cookie = picker.headers["set-cookie"]
    assert "broker_oidc_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain http here
    page = pick(client, server, picker.text, DEV_ROLE, "9000")
    assert page.status_code == 200, page.text
    assert "clamped to 3600 s" in page.text
    assert 'id=expiration' in page.text and "(3600 seconds)" in page.text
    creds = creds_from(page.text)
    assert creds["AWS_ENDPOINT_URL_STS"] == server.url
    assert f"aws_access_key_id = {creds['AWS_ACCESS_KEY_ID']}" in html.unescape(page.text)
    me = server.client("sts", key=creds["AWS_ACCESS_KEY_ID"], secret=creds["AWS_SECRET_ACCESS_KEY"],
                       token=creds["AWS_SESSION_TOKEN"]).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/web-dev/alice@example.com"
    again = pick(client, server, picker.text, OPS_ROLE, "7200")  # the picker may be used again while it lives
    assert again.status_code == 200 and "duration-note" not in again.text and "(7200 seconds)" in again.text


def test_role_not_admitted_is_refused(server: Server, idp: Idp, browser: httpx.Client) -> None:
    client, picker = sign_in(browser, server, idp)
    page = pick(client, server, picker.text, ADMIN_ROLE)
    assert page.status_code == 403
    assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in page.text
    assert "AWS_SECRET_ACCESS_KEY" not in page.text


def test_subject_is_escaped(server: Server, idp: Idp, browser: httpx.Client) -> None:
    _, picker = sign_in(browser, server, idp, sub="alice<script>x</script>", email="")
    assert picker.status_code == 200
    assert "<script>" not in picker.text and "alice&lt;script&gt;" in picker.text


@pytest.mark.parametrize("case", ["no-csrf", "wrong-csrf", "cross-origin", "forged-cookie", "no-cookie"])
def test_csrf_and_cookie_checks(server: Server, idp: Idp, case: str, browser: httpx.Client) -> None:
    client, picker = sign_in(browser, server, idp)
    form: dict[str, Any] = {"role_arn": DEV_ROLE, "csrf_token": hidden(picker.text, "csrf_token")}
    headers: dict[str, str] = {}
    if case == "no-csrf":
        del form["csrf_token"]
    elif case == "wrong-csrf":
        form["csrf_token"] = "0" * 64
    elif case == "cross-origin":
        headers["Origin"] = "http://evil.example"
    elif case == "forged-cookie":
        value = client.cookies["broker_oidc_session"]
        client.cookies.set("broker_oidc_session", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    elif case == "no-cookie":
        client.cookies.clear()
    page = client.post(server.url + "/oidc/session", data=form, headers=headers)
    assert page.status_code == 400, page.text
    assert "AWS_SECRET_ACCESS_KEY" not in page.text


def test_state_mismatch_and_missing_login(server: Server, idp: Idp) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        start = client.get(server.url + "/oidc/login", params={"provider": idp.provider_arn, "client_id": WEB_CLIENT})
        assert start.status_code == 302
        bad = client.get(server.url + "/oidc/callback", params={"code": "x", "state": "not-the-state"})
    assert bad.status_code == 400 and "state parameter does not match" in bad.text
    fresh = httpx.get(server.url + "/oidc/callback", params={"code": "x", "state": "y"})
    assert fresh.status_code == 400 and "login cookie is missing" in fresh.text


def test_idp_denial_and_unknown_provider(server: Server, idp: Idp, browser: httpx.Client) -> None:
    _, back = sign_in(browser, server, idp, decision="deny")
    assert back.status_code == 400 and "access_denied" in back.text
    unknown = httpx.get(server.url + "/oidc/login", params={"provider": "idp.invalid/x"})
    assert unknown.status_code == 400
    missing = httpx.get(server.url + "/oidc/login")
    assert missing.status_code == 400 and "provider is required" in missing.text
    wrong_client = httpx.get(server.url + "/oidc/login", params={"provider": idp.url, "client_id": "other"})
    assert wrong_client.status_code == 400


def test_role_listing_for_programs(server: Server, idp: Idp) -> None:
    token = idp.token(profile=None, sub="alice", audience=WEB_CLIENT)
    listed = httpx.post(server.url + "/oidc/roles", data={"subject_token": token}, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [r["RoleArn"] for r in listed.json()["roles"]] == [DEV_ROLE, OPS_ROLE]
    assert listed.json()["roles"][1]["MaxSessionDuration"] == 7200
    forged = httpx.post(server.url + "/oidc/roles", data={"subject_token": token[:-4] + "AAAA"}, timeout=30)
    assert forged.status_code == 400 and forged.json()["aws_error_code"] == "InvalidIdentityToken"
    missing = httpx.post(server.url + "/oidc/roles", data={"other": "x"}, timeout=30)
    assert missing.status_code == 400 and missing.json()["error_description"] == "subject_token is required"
