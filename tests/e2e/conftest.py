"""End-to-end fixtures: a real ``broker serve`` process on a free loopback port, per store.

The server runs in its own process exactly as an operator starts it (``python -m broker serve``),
with a temporary ``BROKER_HOME`` and, for PostgreSQL, a fresh schema that is dropped afterwards.
Clients are the real boto3 and AWS CLI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
import sqlalchemy as sa
from botocore.config import Config

ROOT_KEY = "AKIAE2ETESTROOTKEY01"
ROOT_SECRET = "e2eRootSecretKey/0123456789abcdefghijklmn"[:40]
ACCOUNT = "123456789012"
PG_ADMIN_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    home: Path
    store: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def client(
        self, service: str = "iam", *, key: str = ROOT_KEY, secret: str = ROOT_SECRET, token: str | None = None
    ) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 1}),
        )

    def aws(self, *args: str, key: str = ROOT_KEY, secret: str = ROOT_SECRET) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "no-aws-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
        }
        aws = str(Path(sys.executable).parent / "aws")
        return subprocess.run(
            [aws, "--endpoint-url", self.url, "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def start_server(home: Path, store: str, database_url: str | None, extra_env: dict[str, str] | None = None) -> Server:
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
    log = home / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "broker",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
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


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover
        server.process.kill()
        server.process.wait()


@dataclass
class StoreSpec:
    name: str
    url: str | None
    cleanup: Any


def make_store(name: str) -> StoreSpec:
    if name == "sqlite":
        return StoreSpec("sqlite", None, lambda: None)
    if os.environ.get("BROKER_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("BROKER_TEST_SKIP_POSTGRES=1")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def cleanup() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    base = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return StoreSpec("postgresql", f"{base}?options={quote(f'-csearch_path={schema}')}", cleanup)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spec = make_store(request.param)
    home = tmp_path_factory.mktemp(f"broker-{spec.name}")
    srv = start_server(home, spec.name, spec.url)
    try:
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)
