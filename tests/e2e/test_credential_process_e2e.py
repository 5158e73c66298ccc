"""``broker credential-process`` in an AWS config profile used by boto3 (a separate process, as an SDK runs it), and
``broker login`` from a terminal: the device authorization grant approved on the fixture IdP's page, and the loopback
redirect. Both write profiles that boto3 then uses against the running broker."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ACCOUNT, Server
from tests.e2e.oidc_flows_support import CI_ROLE, DEV_ROLE, WEB_CLIENT, Idp, broker_for, hidden, idp_fixture  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[Server]:
    yield from broker_for("cp", tmp_path_factory, idp, request.param)


def _clean_env(tmp_path: Path, config: Path, credentials: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))}
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
               AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path))
    return env


def _caller(env: dict[str, str], profile: str, endpoint: str | None = None) -> str:
    script = (
        "import boto3, json, sys; s = boto3.Session(profile_name=sys.argv[1]); "
        "kw = {'endpoint_url': sys.argv[2]} if len(sys.argv) > 2 else {}; "
        "print(json.dumps(s.client('sts', **kw).get_caller_identity()['Arn']))"
    )
    args = [sys.executable, "-c", script, profile] + ([endpoint] if endpoint else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout))


def test_credential_process_profile_used_by_boto3(server: Server, idp: Idp, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token())
    config = tmp_path / "config"
    command = (f"{sys.executable} -m broker credential-process --endpoint {server.url} --role-arn {CI_ROLE} "
               f"--token-file {token_file} --role-session-name cp")
    config.write_text(f"[profile ci]\nregion = us-east-1\ncredential_process = {command}\n")
    env = _clean_env(tmp_path, config, tmp_path / "credentials")
    assert _caller(env, "ci", server.url) == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/cp"


def test_credential_process_output_and_refusal(server: Server, idp: Idp, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token() + "\n")
    args = [sys.executable, "-m", "broker", "credential-process", "--endpoint", server.url, "--role-arn", CI_ROLE,
            "--token-file", str(token_file)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert doc["Version"] == 1 and doc["AccessKeyId"].startswith("ASIA")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["Expiration"])
    token_file.write_text(idp.token(sub="repo:evil/x:ref:refs/heads/main"))
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "invalid_target AccessDenied" in refused.stderr
    assert "eyJ" not in refused.stderr  # never the token
    token_file.write_text("")
    empty = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert empty.returncode == 1 and "is empty" in empty.stderr


def _login_args(server: Server, idp: Idp, tmp_path: Path, *extra: str, role: str | None = DEV_ROLE) -> list[str]:
    return [sys.executable, "-m", "broker", "login", "--provider", idp.url, "--client-id", WEB_CLIENT,
            *(["--role-arn", role] if role else []), "--endpoint", server.url, "--profile", "dev", "--allow-http",
            "--credentials-file", str(tmp_path / "aws" / "credentials"),
            "--config-file", str(tmp_path / "aws" / "config"), *extra]


def _check_profile(tmp_path: Path, server: Server, role: str = "web-dev") -> None:
    for name in ("credentials", "config"):
        mode = stat.S_IMODE((tmp_path / "aws" / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert stat.S_IMODE((tmp_path / "aws").stat().st_mode) == 0o700
    config = (tmp_path / "aws" / "config").read_text()
    assert "[profile dev]" in config and f"endpoint_url = {server.url}" in config
    env = _clean_env(tmp_path, tmp_path / "aws" / "config", tmp_path / "aws" / "credentials")
    assert _caller(env, "dev") == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice"


def test_login_with_the_device_grant_writes_a_working_profile(server: Server, idp: Idp, tmp_path: Path) -> None:
    (tmp_path / "aws").mkdir(mode=0o700)
    (tmp_path / "aws" / "credentials").write_text("[other]\naws_access_key_id = AKIAKEEPME0000000000\n")
    proc = subprocess.Popen(_login_args(server, idp, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"open (\S+) and enter the code (\S+)", line)
    assert match, line
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        page = browser.get(match.group(1))
        assert hidden(page.text, "user_code") == match.group(2)
        browser.post(idp.url + "/device", data={"user_code": match.group(2), "sub": "alice", "decision": "allow"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Wrote profile [dev]" in out
    assert "AKIAKEEPME0000000000" in (tmp_path / "aws" / "credentials").read_text()  # other profiles kept
    _check_profile(tmp_path, server)


def test_login_with_the_loopback_redirect(server: Server, idp: Idp, tmp_path: Path) -> None:
    proc = subprocess.Popen(_login_args(server, idp, tmp_path, "--no-device", "--no-browser"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    proc.stderr.readline()
    url = proc.stderr.readline().strip()
    assert url.startswith(idp.url + "/authorize?") and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        page = browser.get(url)
        done = browser.post(idp.url + "/authorize", data={"request_id": hidden(page.text, "request_id"),
                                                           "sub": "alice", "decision": "allow"})
        assert "you may close this window" in done.text
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    _check_profile(tmp_path, server)


def test_login_refused_by_the_user(server: Server, idp: Idp, tmp_path: Path) -> None:
    proc = subprocess.Popen(_login_args(server, idp, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    match = re.search(r"enter the code (\S+)", proc.stderr.readline())
    assert match
    httpx.post(idp.url + "/device", data={"user_code": match.group(1), "decision": "deny"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "access_denied" in err
    assert not (tmp_path / "aws" / "credentials").exists()



def test_login_without_a_role_offers_the_admitted_ones(server: Server, idp: Idp, tmp_path: Path) -> None:
    proc = subprocess.Popen(_login_args(server, idp, tmp_path, role=None), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    match = re.search(r"enter the code (\S+)", proc.stderr.readline())
    assert match
    httpx.post(idp.url + "/device", data={"user_code": match.group(1), "sub": "alice", "decision": "allow"})
    _, err = proc.communicate("2\n", timeout=60)
    assert proc.returncode == 0, err
    assert f"  1. {DEV_ROLE} (up to 3600 s)" in err and "web-ops" in err
    _check_profile(tmp_path, server, role="web-ops")
