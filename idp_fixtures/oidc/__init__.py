"""A runnable OIDC identity provider for tests and demos (see ``idp.py`` and ``server.py``)."""

from idp_fixtures.oidc.idp import FAULTS, OidcIdp
from idp_fixtures.oidc.server import create_app

__all__ = ["FAULTS", "OidcIdp", "create_app"]
