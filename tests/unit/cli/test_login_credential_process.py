"""``broker login``'s profile writer and session naming, and ``broker credential-process``'s exchange and output."""

from __future__ import annotations

import argparse
import io
import json
import stat
from pathlib import Path

import botocore.session
import httpx
import jwt
import pytest

from broker.cli import credential_process as cp
from broker.cli.login import session_name_from, write_profile

CREDS = {"AccessKeyId": "ASIAEXAMPLEEXAMPLE01", "SecretAccessKey": "s" * 40, "SessionToken": "tok",
         "Expiration": "2026-05-01T10:00:00Z"}
ROLE = "arn:aws:iam::123456789012:role/ci"


def test_write_profile_keeps_other_profiles_and_is_private(tmp_path: Path) -> None:
    aws = tmp_path / "aws"
    aws.mkdir(mode=0o755)
    (aws / "credentials").write_text("[other]\naws_access_key_id = AKIAKEEP\n")
    (aws / "credentials").chmod(0o644)
    for _ in range(2):  # idempotent: a second login replaces the profile's keys
        write_profile(credentials_file=aws / "credentials", config_file=aws / "config", profile="dev", creds=CREDS,
                      endpoint="https://broker.example/", region="eu-west-1")
    for name in ("credentials", "config"):
        assert stat.S_IMODE((aws / name).stat().st_mode) == 0o600
    text = (aws / "credentials").read_text()
    assert "[other]" in text and "AKIAKEEP" in text and text.count("[dev]") == 1
    assert not list(aws.glob(".*.tmp"))
    session = botocore.session.Session()
    session.set_config_variable("config_file", str(aws / "config"))
    session.set_config_variable("credentials_file", str(aws / "credentials"))
    session.set_config_variable("profile", "dev")
    creds = session.get_credentials()
    assert creds is not None and creds.access_key == "ASIAEXAMPLEEXAMPLE01" and creds.token == "tok"
    config = session.full_config
    assert config["profiles"]["dev"]["region"] == "eu-west-1"
    assert config["services"]["broker-dev"]["sts"]["endpoint_url"] == "https://broker.example"
    assert config["services"]["broker-dev"]["iam"]["endpoint_url"] == "https://broker.example"


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"sub": "u1", "email": "alice@example.com"}, "alice@example.com"),
        ({"sub": "u1", "preferred_username": "alice smith"}, "alice-smith"),
        ({"sub": "repo:org/app:ref:refs/heads/main"}, "repo-org-app-ref-refs-heads-main"),
        ({"sub": "x"}, None),
        ({"sub": "é" * 100}, "-" * 64),
    ],
)
def test_session_name_from_token(claims: dict[str, str], name: str | None) -> None:
    assert session_name_from(jwt.encode(claims, "k" * 32, algorithm="HS256")) == name
    assert session_name_from("not-a-jwt") is None


def transport(status: int, body: object, seen: list[httpx.Request] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_exchange_id_token_form_and_result() -> None:
    seen: list[httpx.Request] = []
    with transport(200, {"credentials": {**CREDS, "Version": 1}}, seen) as client:
        creds = cp.exchange_id_token("https://b.example/", "eyJ.a.b", ROLE, duration_seconds=900,
                                     session_name="s1", client=client)
    assert creds["AccessKeyId"] == "ASIAEXAMPLEEXAMPLE01"
    [request] = seen
    assert str(request.url) == "https://b.example/oauth2/token"
    form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
    assert form["subject_token"] == "eyJ.a.b" and form["duration_seconds"] == "900"
    assert form["role_session_name"] == "s1"
    assert json.loads(cp.process_json(creds)) == {"Version": 1, **CREDS}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "invalid_request", "error_description": "Token is expired",
               "aws_error_code": "ExpiredTokenException"},
         "token exchange refused: invalid_request ExpiredTokenException: Token is expired"),
        (400, {"error": "unsupported_grant_type", "error_description": "x"},
         "token exchange refused: unsupported_grant_type : x"),
        (200, {"access_token": "t"}, "answered without AWS credentials"),
    ],
)
def test_exchange_refusals(status: int, body: object, message: str) -> None:
    with transport(status, body) as client, pytest.raises(cp.ExchangeError) as info:
        cp.exchange_id_token("https://b.example", "eyJ.a.b", ROLE, client=client)
    assert message in str(info.value)


def test_command_reports_on_stderr_and_exits_1(tmp_path: Path) -> None:
    args = argparse.Namespace(endpoint="http://127.0.0.1:9", role_arn=ROLE, token_file=str(tmp_path / "missing"),
                              duration_seconds=None, role_session_name=None)
    out, err = io.StringIO(), io.StringIO()
    assert cp.cmd_credential_process(args, out, err) == 1
    assert out.getvalue() == "" and "cannot read the token file" in err.getvalue()
    big = tmp_path / "big"
    big.write_bytes(b"x" * (cp.MAX_TOKEN_FILE + 1))
    args.token_file = str(big)
    assert cp.cmd_credential_process(args, out, err) == 1 and "larger than" in err.getvalue()


def test_choose_role() -> None:
    from broker.cli.login import LoginError, choose_role

    roles = [{"RoleArn": f"arn:aws:iam::1:role/r{i}", "MaxSessionDuration": 3600} for i in (1, 2)]
    err = io.StringIO()
    assert choose_role(roles[:1], err=err, read=lambda prompt: "9") == "arn:aws:iam::1:role/r1"
    assert choose_role(roles, err=err, read=lambda prompt: "2") == "arn:aws:iam::1:role/r2"
    assert choose_role(roles, err=err, read=lambda prompt: "") == "arn:aws:iam::1:role/r1"
    assert "  2. arn:aws:iam::1:role/r2 (up to 3600 s)" in err.getvalue()
    with pytest.raises(LoginError, match="no role number 3"):
        choose_role(roles, err=err, read=lambda prompt: "3")
    with pytest.raises(LoginError, match="no role's trust policy admits you"):
        choose_role([], err=err)
