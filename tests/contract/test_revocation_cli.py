"""``broker revoke …`` on both engines: argument parsing through ``register`` and the run against the store."""

from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path

import pytest

from broker.cli import revoke as cli
from broker.config import Settings
from broker.service.iam import OPERATIONS as IAM
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, MASTER_KEY, Caller, count_rows

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def settings(store: SqlStore, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        account_id=ACCOUNT,
        database_url=store.engine.url.render_as_string(hide_password=False),
        master_key=base64.b64encode(MASTER_KEY).decode(),
    )


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="broker")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_parsing() -> None:
    args = parse("revoke", "subject", "accounts.google.com", "1234")
    assert (args.revoke_scope, args.provider, args.subject, args.func) == (
        "subject",
        "accounts.google.com",
        "1234",
        cli._command,
    )
    assert parse("revoke", "role", "deployer").role_name == "deployer"
    with pytest.raises(SystemExit):
        parse("revoke", "everything")


def test_revoke_role_and_list(settings: Settings, call: Caller, store: SqlStore) -> None:
    call(IAM["CreateRole"], RoleName="deployer", AssumeRolePolicyDocument=TRUST)
    out = io.StringIO()
    assert cli.run(settings, "role", {"scope": "role", "role_name": "deployer"}, out=out) == 0
    printed = json.loads(out.getvalue())["revocation"]
    assert (printed["scope"], printed["value"]) == ("role", f"arn:aws:iam::{ACCOUNT}:role/deployer")
    listed = io.StringIO()
    assert cli.run(settings, "list", {"scope": "list"}, out=listed) == 0
    assert json.loads(listed.getvalue())["revocations"] == [printed]
    assert call(IAM["ListRolePolicies"], RoleName="deployer")["PolicyNames"] == ["AWSRevokeOlderSessions"]
    assert count_rows(store, "audit_events") == 2


def test_unknown_role_exits_1_with_the_aws_error(settings: Settings, store: SqlStore) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(settings, "role", {"scope": "role", "role_name": "ghost"}, out=out, err=err) == 1
    assert err.getvalue() == "NoSuchEntity: The role with name ghost cannot be found.\n"
    assert out.getvalue() == ""
    assert count_rows(store, "revocations") == 0
