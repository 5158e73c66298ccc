"""The shared login pages: escaping, the role picker, the credentials page and its headers."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.api.web.pages import (
    PAGE_HEADERS,
    CredentialsView,
    RoleChoice,
    credentials_page,
    html_response,
    role_picker_page,
)

ROLE = "arn:aws:iam::123456789012:role/dev"


def view(note: str | None = None) -> CredentialsView:
    return CredentialsView(
        role_arn=ROLE, assumed_role_arn="arn:aws:sts::123456789012:assumed-role/dev/alice",
        access_key_id="ASIAEXAMPLEEXAMPLE01", secret_access_key="s" * 40, session_token="tok/en+==",
        expiration=datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC), duration_seconds=3600, duration_note=note,
        endpoint="https://broker.example",
    )


def test_role_picker_escapes_everything_and_carries_the_csrf_token() -> None:
    page = role_picker_page(
        who='<img src=x onerror="alert(1)">', roles=[RoleChoice(ROLE, "dev<b>", 3600)], action="/oidc/session",
        csrf_token="abc123", duration_seconds=900,
    )
    assert "<img" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "dev&lt;b&gt;" in page
    assert f'name=role_arn value="{ROLE}" checked' in page
    assert 'name="csrf_token" value="abc123"' in page
    assert 'name=duration_seconds value="900"' in page
    assert '<form method=post action="/oidc/session">' in page


def test_role_picker_without_roles_says_so() -> None:
    page = role_picker_page(who="bob", roles=[], action="/x", csrf_token="t", duration_seconds=None)
    assert "no role&#39;s trust policy admits you" in page and "<form" not in page


def test_credentials_page_blocks_and_clamp_note() -> None:
    page = credentials_page(view("requested 9000 s exceeds the role's MaxSessionDuration; clamped to 3600 s"))
    assert "export AWS_ACCESS_KEY_ID=ASIAEXAMPLEEXAMPLE01" in page
    assert "export AWS_SESSION_TOKEN=tok/en+==" in page
    assert "export AWS_ENDPOINT_URL_STS=https://broker.example" in page
    assert "[broker]\naws_access_key_id = ASIAEXAMPLEEXAMPLE01" in page
    assert '<time id=expiration datetime="2026-05-01T10:00:00Z">' in page
    assert "clamped to 3600 s" in page and "id=duration-note" in page
    assert "duration-note" not in credentials_page(view())


def test_secrets_not_in_repr_and_pages_not_cached_or_framed() -> None:
    assert "s" * 40 not in repr(view()) and "tok/en" not in repr(view())
    response = html_response("<p>x</p>", 400)
    assert response.status_code == 400
    for name, value in PAGE_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src" not in PAGE_HEADERS["Content-Security-Policy"]
    assert PAGE_HEADERS["Referrer-Policy"] == "same-origin"
