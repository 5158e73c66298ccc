"""Serving a :class:`SamlIdp` over HTTP (standard library only), in a thread or as a process.

Routes: ``GET /metadata`` (IdP metadata), ``GET /sso`` (Redirect-binding AuthnRequest → POST-binding form to
the SP's ACS), ``GET /idp-initiated?user=NAME&RelayState=…`` (unsolicited Response form),
``GET /healthz``. A bad AuthnRequest is answered with 400 and the reason in plain text.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from idp_fixtures.saml.idp import SamlIdp

__all__ = ["RunningIdp", "serve_in_thread"]


def _handler(idp: SamlIdp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet in tests
            return

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            try:
                if url.path == "/metadata":
                    self._send(200, idp.metadata(), "application/samlmetadata+xml")
                elif url.path == "/sso":
                    self._send(200, idp.sso_form(url.query), "text/html; charset=utf-8")
                elif url.path == "/idp-initiated":
                    q = parse_qs(url.query)
                    user = q.get("user", [None])[0]
                    relay = q.get("RelayState", [None])[0]
                    self._send(200, idp.idp_initiated_form(user, relay), "text/html; charset=utf-8")
                elif url.path == "/healthz":
                    self._send(200, "ok", "text/plain")
                else:
                    self._send(404, "not found", "text/plain")
            except (KeyError, ValueError) as exc:
                self._send(400, f"bad request: {exc}", "text/plain; charset=utf-8")

    return Handler


class RunningIdp:
    """An IdP served on ``127.0.0.1`` in a daemon thread; ``url`` is its base URL. Use as a context manager."""

    def __init__(self, idp: SamlIdp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.idp = idp
        self.server = ThreadingHTTPServer((host, port), _handler(idp))
        self.url = f"http://{host}:{self.server.server_address[1]}"
        idp.base_url = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, name="saml-fixture-idp", daemon=True)

    def start(self) -> RunningIdp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RunningIdp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(idp: SamlIdp, port: int = 0) -> RunningIdp:
    return RunningIdp(idp, port=port).start()
