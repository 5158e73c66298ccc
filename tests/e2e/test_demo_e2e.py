"""``make demo`` end to end: the demo process (broker, the fixture IdP, provider and role registered, a token
file) started the way the Makefile starts it, then the README's commands with the real AWS CLI: ``source
demo.env`` and ``aws sts get-caller-identity`` / ``aws iam list-roles``. The fixture SAML IdP it also runs: a
SAMLResponse from its IdP-initiated endpoint gives working ``demo-saml`` credentials through boto3's
``assume_role_with_saml`` and through broker's ``/saml/acs``. A second start on the same folder (a user running
``make demo`` again; the SAML IdP has a new signing key, so its metadata must be updated) registers nothing twice
and works the same."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from idp_fixtures import demo_saml
from idp_fixtures.oidc.demo import ROLE_NAME
from tests.e2e.conftest import _free_port
from tests.e2e.saml_browser import forms, submit

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_makefile_demo_target_runs_this_module() -> None:
    done = subprocess.run(["make", "-n", "demo", "PORT=1", "IDP_PORT=2", "SAML_IDP_PORT=3", "DEMO_HOME=/x"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    command = " ".join(done.stdout.replace("\\\n", " ").split())
    assert "-m idp_fixtures.oidc.demo --host 127.0.0.1 --port 1 --idp-port 2 --saml-idp-port 3 --home /x" in command


def _start(home: Path, port: int, idp_port: int, saml_idp_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "idp_fixtures.oidc.demo", "--port", str(port), "--idp-port", str(idp_port),
         "--saml-idp-port", str(saml_idp_port), "--home", str(home)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the demo did not become healthy")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        out, _ = proc.communicate()
    return out


def _aws(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The AWS CLI in a shell that sourced demo.env, with no other AWS configuration."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "AWS_CONFIG_FILE": str(home / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_MAX_ATTEMPTS": "1"}
    for line in (home / "demo.env").read_text().splitlines():
        key, value = re.fullmatch(r"export (\w+)=(.*)", line).groups()  # type: ignore[union-attr]
        env[key] = value
    aws = str(Path(sys.executable).parent / "aws")
    return subprocess.run([aws, "--output", "json", *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def ports() -> Iterator[tuple[int, int, int]]:
    yield _free_port(), _free_port(), _free_port()


SAML_ROLE_ARN = f"arn:aws:iam::000000000000:role/{demo_saml.ROLE_NAME}"


def _saml_response(saml_idp_port: int) -> str:
    """The SAMLResponse of the fixture SAML IdP's IdP-initiated form (what a browser would POST to /saml/acs)."""
    page = httpx.get(f"http://127.0.0.1:{saml_idp_port}/idp-initiated?user={demo_saml.USER}", timeout=30)
    assert page.status_code == 200, page.text
    return forms(page.text)[0].fields["SAMLResponse"]


def _check_saml(port: int, saml_idp_port: int) -> None:
    broker = f"http://127.0.0.1:{port}"
    sts = boto3.client("sts", endpoint_url=broker, region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    out = sts.assume_role_with_saml(RoleArn=SAML_ROLE_ARN, SAMLAssertion=_saml_response(saml_idp_port),
                                    PrincipalArn=f"arn:aws:iam::000000000000:saml-provider/{demo_saml.PROVIDER_NAME}")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"], "region_name": "us-east-1", "endpoint_url": broker}
    who = boto3.client("sts", **keys).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{demo_saml.ROLE_NAME}/alice@example.com"
    roles = boto3.client("iam", **keys).list_roles()["Roles"]  # demo-saml may read IAM, like demo-ci
    assert sorted(r["RoleName"] for r in roles) == sorted([ROLE_NAME, demo_saml.ROLE_NAME])
    # The browser's way: the IdP's auto-posting form to broker's ACS, the role picker, the credentials page.
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        at_idp = browser.get(f"http://127.0.0.1:{saml_idp_port}/idp-initiated?user={demo_saml.USER}")
        picker = submit(browser, at_idp)
        assert picker.status_code == 200, picker.text
        page = submit(browser, picker, role_arn=SAML_ROLE_ARN)
        assert page.status_code == 200, page.text
        assert re.search(r"AWS_ACCESS_KEY_ID=ASIA\w+", page.text), page.text
    # SP-initiated, from the URL the demo prints: broker's AuthnRequest to the IdP's /sso and back.
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        at_idp = browser.get(broker + f"/saml/login?provider={demo_saml.PROVIDER_NAME}")
        assert str(at_idp.url).startswith(f"http://127.0.0.1:{saml_idp_port}/sso?"), at_idp.text
        picker = submit(browser, at_idp)
        assert picker.status_code == 200, picker.text
        page = submit(browser, picker, role_arn=SAML_ROLE_ARN)
        assert page.status_code == 200, page.text
        assert re.search(r"AWS_ACCESS_KEY_ID=ASIA\w+", page.text), page.text


def test_demo_gives_credentials_to_the_aws_cli(tmp_path: Path, ports: tuple[int, int, int]) -> None:
    home = tmp_path / "demo"
    for run in range(2):
        proc = _start(home, *ports)
        try:
            who = _aws(home, "sts", "get-caller-identity")
            assert who.returncode == 0, who.stderr
            assert json.loads(who.stdout)["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{ROLE_NAME}/demo"
            roles = _aws(home, "iam", "list-roles")
            assert roles.returncode == 0, roles.stderr
            assert sorted(r["RoleName"] for r in json.loads(roles.stdout)["Roles"]) == sorted(
                [ROLE_NAME, demo_saml.ROLE_NAME])
            token_file = (home / "token.jwt").as_posix()
            raw = _aws(home, "sts", "assume-role-with-web-identity", "--role-arn",
                       f"arn:aws:iam::000000000000:role/{ROLE_NAME}", "--role-session-name", "me",
                       "--web-identity-token", f"file://{token_file}")
            assert raw.returncode == 0, raw.stderr
            assert json.loads(raw.stdout)["Credentials"]["AccessKeyId"].startswith("ASIA")
            providers = _aws(home, "iam", "list-open-id-connect-providers")
            assert len(json.loads(providers.stdout)["OpenIDConnectProviderList"]) == 1
            saml_providers = _aws(home, "iam", "list-saml-providers")
            assert len(json.loads(saml_providers.stdout)["SAMLProviderList"]) == 1
            _check_saml(ports[0], ports[2])
        finally:
            out = _stop(proc)
        assert "demo ready" in out
        assert f"/saml/login?provider={demo_saml.PROVIDER_NAME}" in out
        assert ("Root credentials" in out) == (run == 0)  # generated once, on the first start only
    assert oct((home / "token.jwt").stat().st_mode & 0o777) == "0o600"
