"""The fixture IdP's discovery and JWKS over real HTTPS on loopback, for thumbprint-pinning tests.

:func:`make_pki` writes a three-level PKI (root CA → intermediate CA → leaf for ``127.0.0.1``/``localhost``)
with ``cryptography``; :class:`TlsIdpServer` serves ``/.well-known/openid-configuration`` and ``/jwks`` of an
:class:`~idp_fixtures.oidc.idp.OidcIdp` from a thread, presenting leaf + intermediate (as public IdPs do).
Point broker at ``pki.ca_bundle`` (``BROKER_CA_BUNDLE``); ``pki.thumbprints`` holds each certificate's hex
SHA-1 (the intermediate is AWS's "top intermediate CA").
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp_fixtures.oidc.idp import OidcIdp

__all__ = ["Pki", "TlsIdpServer", "make_pki"]


@dataclass(frozen=True)
class Pki:
    ca_bundle: Path
    """The root CA certificate (PEM): what ``BROKER_CA_BUNDLE`` names."""
    chain: Path
    """Leaf then intermediate (PEM), as the server presents them."""
    key: Path
    thumbprints: dict[str, str]
    """``root``, ``intermediate``, ``leaf`` → lower-case hex SHA-1 of the DER certificate."""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool, hosts: tuple[str, ...] = ()) -> Any:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), label: str = "fixture") -> Pki:
    """Root → intermediate → leaf for ``hosts``; files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert(f"{label} root CA", root_key, f"{label} root CA", root_key, ca=True)
    inter = _cert(f"{label} intermediate CA", inter_key, f"{label} root CA", root_key, ca=True)
    leaf = _cert(hosts[0], leaf_key, f"{label} intermediate CA", inter_key, ca=False, hosts=hosts)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(root.public_bytes(pem))
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    (folder / "key.pem").write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    der = serialization.Encoding.DER
    prints = {name: hashlib.sha1(c.public_bytes(der), usedforsecurity=False).hexdigest()  # AWS's format
              for name, c in (("root", root), ("intermediate", inter), ("leaf", leaf))}
    return Pki(folder / "ca.pem", folder / "chain.pem", folder / "key.pem", prints)


class TlsIdpServer:
    """Discovery and JWKS of ``idp`` over HTTPS on ``127.0.0.1`` (a free port); ``down`` answers 503."""

    def __init__(self, pki: Pki, idp_factory: Any = None) -> None:
        self.pki = pki
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.chain), str(pki.key))
        server = self
        self.down = False
        self.jwks_calls = 0
        self.jwks_uri: str | None = None
        """Where discovery sends the JWKS fetch (default: this server's ``/jwks``)."""

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": server.issuer, "jwks_uri": server.jwks_uri or f"{server.issuer}/jwks"}
                elif self.path == "/jwks":
                    server.jwks_calls += 1
                    if server.down:
                        self.send_response(503)
                        self.end_headers()
                        return
                    body = server.idp.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.idp: OidcIdp = idp_factory(self.issuer) if idp_factory else OidcIdp(issuer=self.issuer)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="tls-idp", daemon=True)

    def __enter__(self) -> TlsIdpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
