"""``broker keys list`` and ``broker keys rotate saml-sp [--promote]``: parsing, output shape, no key material.

SQLite in a temporary ``BROKER_HOME``; the same commands on both engines: tests/contract/test_saml_keys_cli.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker.bootstrap import open_store
from broker.cli import keys as cli
from broker.clock import SystemClock
from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.ids import SystemEntropy

MASTER_KEY = bytes(range(32))
FIELDS = {"key_id", "purpose", "algorithm", "state", "created_at", "activated_at", "retired_at", "fingerprint",
          "not_after"}
SHA256_COLONS = re.compile(r"\A(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\Z")


def settings_in(home: Path, master_key: bytes = MASTER_KEY) -> Settings:
    return Settings(home=home, master_key=base64.b64encode(master_key).decode(), public_url="https://broker.example.com")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="broker")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def listed(settings: Settings) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert cli.run_list(settings, out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_parsing() -> None:
    args = parse("keys", "rotate", "saml-sp", "--promote")
    assert (args.purpose, args.promote, args.algorithm, args.func) == ("saml-sp", True, None, cli.cmd_keys_rotate)
    assert parse("keys", "rotate", "saml-sp").promote is False
    assert parse("keys", "rotate", "session-token").promote is False
    assert parse("keys", "list").func is cli.cmd_keys_list
    with pytest.raises(SystemExit):
        parse("keys", "rotate", "saml")


@pytest.mark.parametrize(("purpose", "flags", "message"), [
    ("session-token", {"promote": True}, "--promote applies to saml-sp only"),
    ("jwt-signing", {"promote": True, "algorithm": "ES256"}, "--promote applies to saml-sp only"),
    ("saml-sp", {"algorithm": "RS256"}, "--algorithm applies to jwt-signing keys only"),
])
def test_flags_of_the_other_kind_are_refused_before_anything_is_opened(
    purpose: str, flags: dict[str, Any], message: str
) -> None:
    args = argparse.Namespace(purpose=purpose, **{"promote": False, "algorithm": None, **flags})
    out, err = io.StringIO(), io.StringIO()
    assert cli.cmd_keys_rotate(args, out, err) == 2
    assert message in err.getvalue() and out.getvalue() == ""


def test_list_shows_saml_sp_keys_with_certificate_facts_and_no_material(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    prepared = io.StringIO()
    assert cli.run_saml_rotate(settings, promote=False, out=prepared) == 0
    lines = listed(settings)
    assert all(set(line) == FIELDS for line in lines)
    assert {line["purpose"] for line in lines} == {"session-token", "jwt-signing", "saml-sp"}
    assert all(line["not_after"] is None for line in lines if line["purpose"] != "saml-sp")
    sp = [line for line in lines if line["purpose"] == "saml-sp"]
    assert sorted(line["state"] for line in sp) == ["active", "next"]
    store = open_store(settings)
    try:
        with store.transaction() as tx:
            rows = {r.key_id: r for r in tx.security.list_saml_sp_keys()}
    finally:
        store.dispose()
    for line in sp:
        row = rows[line["key_id"]]
        assert SHA256_COLONS.match(line["fingerprint"])
        assert line["fingerprint"].replace(":", "").lower() == hashlib.sha256(row.certificate).hexdigest()
        assert line["algorithm"] == "RSA-3072" and line["retired_at"] is None
        created, not_after = datetime.fromisoformat(line["created_at"]), datetime.fromisoformat(line["not_after"])
        assert not_after - created > timedelta(days=3600)
        assert (line["activated_at"] is None) == (line["state"] == "next")
    (next_line,) = (line for line in sp if line["state"] == "next")
    assert next_line["key_id"] in prepared.getvalue() and next_line["fingerprint"] in prepared.getvalue()
    printed = json.dumps(lines) + prepared.getvalue()
    assert "PRIVATE" not in printed and "BEGIN" not in printed
    for row in rows.values():  # neither the sealed key nor the certificate itself, in any usual encoding
        for blob in (row.sealed_key, row.certificate):
            assert blob.hex() not in printed and base64.b64encode(blob).decode()[:40] not in printed


def test_list_reads_only_it_creates_no_saml_sp_key(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert [line["purpose"] for line in listed(settings) if line["purpose"] == "saml-sp"] == []
    store = open_store(settings)
    try:
        with store.transaction() as tx:
            assert tx.security.list_saml_sp_keys() == []
    finally:
        store.dispose()


def test_a_key_sealed_under_another_master_key_is_listed_unusable(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert cli.run_saml_rotate(settings, promote=False, out=io.StringIO()) == 0
    store = open_store(settings)
    try:
        entropy = SystemEntropy()
        stranger = cli.saml_sp_keys(settings, store, Envelope(bytes(32), entropy), entropy, SystemClock())
        infos = stranger.listing()
    finally:
        store.dispose()
    assert [i.state for i in infos] == ["unusable", "unusable"]
    assert all(SHA256_COLONS.match(i.fingerprint) for i in infos)  # public facts still shown


def test_promote_without_a_prepared_key_changes_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert cli.run_saml_rotate(settings, promote=True, out=out, err=err) == 1
    assert "no next key is prepared" in err.getvalue() and out.getvalue() == ""
    assert [line for line in listed(settings) if line["purpose"] == "saml-sp"] == []
