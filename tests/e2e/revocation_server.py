"""A broker server with revocation wired in, for the revocation and two-node end-to-end tests.

Runs ``broker serve``'s steps (init, create_app, uvicorn). When ``create_app`` does not yet mount the
admin API and the revocation set (issue 4 wiring), it adds them the way ``broker/api/admin.py``
documents, so these tests exercise the same code before and after the wiring lands.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ACCOUNT, ROOT_KEY, ROOT_SECRET, Server, _free_port


def main() -> None:
    import uvicorn

    from broker.api.admin import install_admin, revocation_set_for
    from broker.api.app import create_app
    from broker.cli.main import _init
    from broker.config import Settings
    from broker.service.revocation_set import ClaimsRevocations

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(host="127.0.0.1", port=args.port)
    _init(settings)
    app = create_app(settings)
    if not hasattr(app.state, "revocations"):
        broker = app.state.broker
        revocations = revocation_set_for(broker.store)
        broker.authenticator.revocations = ClaimsRevocations(revocations)
        install_admin(app, broker, revocations)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def start_wired_server(
    home: Path, store: str, database_url: str | None, extra_env: dict[str, str] | None = None
) -> Server:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_") and not k.startswith("AWS_")}
    env.update(
        BROKER_HOME=str(home),
        BROKER_ACCOUNT_ID=ACCOUNT,
        BROKER_ROOT_ACCESS_KEY_ID=ROOT_KEY,
        BROKER_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET,
    )
    if database_url:
        env["BROKER_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    root = Path(__file__).resolve().parents[2]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.revocation_server", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, home, store, env, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"broker did not become healthy:\n{log.read_text()}")


def admin(
    server: Server,
    method: str,
    body: dict[str, object] | None = None,
    *,
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
) -> httpx.Response:
    """A SigV4-signed call to the admin revocation API (service ``broker``)."""
    import json

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = server.url + "/admin/revocations"
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "broker", "us-east-1").add_auth(req)
    return httpx.request(method, url, content=data, headers=dict(req.headers.items()), timeout=30)


if __name__ == "__main__":
    main()
