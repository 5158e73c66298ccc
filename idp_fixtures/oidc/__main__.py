"""``python -m idp_fixtures.oidc --port 9000 [--issuer URL] [--alg RS256]``: serve the fixture IdP."""

from __future__ import annotations

import argparse

import uvicorn

from idp_fixtures.oidc.idp import OidcIdp
from idp_fixtures.oidc.server import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m idp_fixtures.oidc")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--issuer", default=None, help="issuer URL (default http://HOST:PORT)")
    parser.add_argument("--alg", default="RS256")
    parser.add_argument("--audience", default="sts.amazonaws.com")
    args = parser.parse_args()
    issuer = args.issuer or f"http://{args.host}:{args.port}"
    idp = OidcIdp(issuer=issuer, alg=args.alg, default_audience=args.audience)
    uvicorn.run(create_app(idp), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
