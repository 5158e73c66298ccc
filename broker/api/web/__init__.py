"""Browser single sign-on pages (SPEC.md §3.4): the OIDC relying party (``oidc.py``) and, from issue 6, the SAML
service provider (``saml.py``), sharing sealed-cookie login state (``cookies.py``), CSRF checks (``csrf.py``) and
the role-picker and credentials pages (``pages.py``)."""

from broker.api.web.cookies import CookieSealer, LoginStateError, clear_cookie, set_cookie
from broker.api.web.csrf import CSRF_FIELD, CsrfError, check_csrf, new_csrf_token
from broker.api.web.pages import (
    CredentialsView,
    RoleChoice,
    credentials_page,
    html_response,
    message_page,
    role_picker_page,
)

__all__ = [
    "CSRF_FIELD",
    "CookieSealer",
    "CredentialsView",
    "CsrfError",
    "LoginStateError",
    "RoleChoice",
    "check_csrf",
    "clear_cookie",
    "credentials_page",
    "html_response",
    "message_page",
    "new_csrf_token",
    "role_picker_page",
    "set_cookie",
]
