"""The HTML pages of browser login, shared by the OIDC (``oidc.py``) and SAML (``saml.py``) flows.

Every value is escaped with ``markupsafe`` (HTML-escaping ``& < > " '``); page text is built from escaped pieces
only. Responses carry ``Cache-Control: no-store`` (credentials must not be cached), a restrictive
``Content-Security-Policy`` (no scripts at all, forms only to broker itself, no framing) and
``Referrer-Policy: same-origin`` (``no-referrer`` would turn the browser's ``Origin`` on our own form posts into
``null``, Fetch Standard §3.1 "serializing a request origin", which the CSRF check refuses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from starlette.responses import HTMLResponse

from broker.api.web.csrf import CSRF_FIELD

__all__ = [
    "PAGE_HEADERS",
    "CredentialsView",
    "RoleChoice",
    "credentials_page",
    "html_response",
    "message_page",
    "role_picker_page",
]

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_STYLE = Markup(  # a constant of ours, no caller input

    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "pre{background:#f4f4f4;padding:.8rem;overflow-x:auto}label{display:block;margin:.3rem 0}"
    ".note{background:#fff4d6;padding:.5rem .8rem}"
)


@dataclass(frozen=True)
class RoleChoice:
    """A role the signed-in identity may assume (its trust policy admits it)."""

    role_arn: str
    role_name: str
    max_session_duration: int


@dataclass(frozen=True)
class CredentialsView:
    """What the credentials page shows. ``secret_access_key`` and ``session_token`` never repr'd."""

    role_arn: str
    assumed_role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    duration_seconds: int
    duration_note: str | None
    endpoint: str
    profile: str = "broker"
    region: str = "us-east-1"

    def __repr__(self) -> str:
        return f"CredentialsView(assumed_role_arn={self.assumed_role_arn!r}, access_key_id={self.access_key_id!r})"


def _page(title: str, body: Markup) -> str:
    return str(
        Markup("<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title><style>{}</style></head>"
               "<body><h1>{}</h1>{}</body></html>").format(title, _STYLE, title, body)
    )


def html_response(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def message_page(title: str, message: str) -> str:
    """An error or information page (``message`` is escaped)."""
    return _page(title, Markup("<p>{}</p>").format(message))


def role_picker_page(
    *, who: str, roles: Sequence[RoleChoice], action: str, csrf_token: str, duration_seconds: int | None,
    hidden: Mapping[str, str] | None = None,
) -> str:
    """The role picker: one radio button per role, a duration field, ``hidden`` fields (the SAML login carries its
    ``SAMLResponse`` back, as AWS's sign-in page does) and the CSRF token; it POSTs to ``action``."""
    if not roles:
        return message_page("No roles available", f"Signed in as {who}, but no role's trust policy admits you.")
    row = Markup('<label><input type=radio name=role_arn value="{}"{}> {} <small>({}, up to {} s)</small></label>')
    checked, unchecked = Markup(" checked"), Markup("")
    items = Markup("").join(
        row.format(r.role_arn, checked if i == 0 else unchecked, r.role_name, r.role_arn, r.max_session_duration)
        for i, r in enumerate(roles)
    )
    duration = "" if duration_seconds is None else str(duration_seconds)
    extra = Markup("").join(
        Markup('<input type=hidden name="{}" value="{}">').format(name, value) for name, value in (hidden or {}).items()
    )
    body = Markup(
        "<p>Signed in as <b>{}</b>. Choose a role:</p>"
        '<form method=post action="{}">{}'
        '<label>Session duration in seconds (empty: 3600): <input name=duration_seconds value="{}" '
        "inputmode=numeric size=6></label>"
        '{}<input type=hidden name="{}" value="{}"><button type=submit>Get credentials</button></form>'
    ).format(who, action, items, duration, extra, CSRF_FIELD, csrf_token)
    return _page("Choose a role", body)


def credentials_page(view: CredentialsView) -> str:
    """Environment variables, a ``~/.aws/credentials`` block and the expiry, ready to copy."""
    env = (
        f"export AWS_ACCESS_KEY_ID={view.access_key_id}\n"
        f"export AWS_SECRET_ACCESS_KEY={view.secret_access_key}\n"
        f"export AWS_SESSION_TOKEN={view.session_token}\n"
        f"export AWS_ENDPOINT_URL_STS={view.endpoint}\n"
        f"export AWS_ENDPOINT_URL_IAM={view.endpoint}\n"
        f"export AWS_DEFAULT_REGION={view.region}\n"
    )
    ini = (
        f"[{view.profile}]\n"
        f"aws_access_key_id = {view.access_key_id}\n"
        f"aws_secret_access_key = {view.secret_access_key}\n"
        f"aws_session_token = {view.session_token}\n"
    )
    expires = view.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    note = Markup("")
    if view.duration_note:
        note = Markup("<p class=note id=duration-note>{}</p>").format(view.duration_note)
    body = Markup(
        "<p>Role <b>{}</b><br>Session <code>{}</code></p>{}"
        '<p>Expires <time id=expiration datetime="{}">{}</time> ({} seconds).</p>'
        "<h2>Environment variables</h2><pre id=env>{}</pre>"
        "<h2>~/.aws/credentials</h2><pre id=credentials-file>{}</pre>"
    ).format(view.role_arn, view.assumed_role_arn, note, expires, expires, view.duration_seconds, env, ini)
    return _page("Your credentials", body)
