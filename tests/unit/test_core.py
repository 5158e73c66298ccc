"""Unit tests for the shared core: ids, ARNs, settings, clock discipline, envelope encryption."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from broker import ids
from broker.arn import ArnFactory, parse_arn
from broker.clock import FixedClock
from broker.config import Settings
from broker.credentials.envelope import Envelope, EnvelopeError

PACKAGE = Path(__file__).resolve().parents[2] / "broker"


class CountingEntropy:
    def __init__(self) -> None:
        self.n = 0

    def token_bytes(self, n: int) -> bytes:
        out = bytes((self.n + i) % 256 for i in range(n))
        self.n += n
        return out


@pytest.mark.parametrize(
    ("make", "prefix", "length"),
    [
        (ids.access_key_id, "AKIA", 20),
        (ids.temporary_access_key_id, "ASIA", 20),
        (ids.user_id, "AIDA", 21),
        (ids.role_id, "AROA", 21),
        (ids.group_id, "AGPA", 21),
        (ids.policy_id, "ANPA", 21),
    ],
)
def test_unique_ids_have_aws_prefixes_and_lengths(make, prefix: str, length: int) -> None:  # type: ignore[no-untyped-def]
    value = make()
    assert value.startswith(prefix) and len(value) == length
    assert re.fullmatch(r"[A-Z2-7]+", value)


def test_secret_access_key_is_40_chars_of_base64_alphabet() -> None:
    secret = ids.secret_access_key()
    assert len(secret) == 40 and re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)


def test_ids_come_from_the_injected_entropy() -> None:
    assert ids.access_key_id(CountingEntropy()) == ids.access_key_id(CountingEntropy())
    assert ids.access_key_id() != ids.access_key_id()


def test_arn_factory_honours_account_and_partition() -> None:
    arns = ArnFactory(account="123456789012", partition="aws-cn")
    assert arns.role("deploy", "/ci/") == "arn:aws-cn:iam::123456789012:role/ci/deploy"
    assert arns.root() == "arn:aws-cn:iam::123456789012:root"
    assert arns.assumed_role("deploy", "s1") == "arn:aws-cn:sts::123456789012:assumed-role/deploy/s1"
    assert (
        arns.oidc_provider("idp.example:8443/realms/x")
        == "arn:aws-cn:iam::123456789012:oidc-provider/idp.example:8443/realms/x"
    )
    with pytest.raises(ValueError):
        arns.role("x", "no-slashes")


def test_parse_arn_keeps_colons_in_the_resource() -> None:
    arn = parse_arn("arn:aws:iam::123456789012:oidc-provider/idp.example:8443/realms/x")
    assert arn.service == "iam" and arn.account == "123456789012"
    assert arn.resource == "oidc-provider/idp.example:8443/realms/x" and arn.resource_type == "oidc-provider"
    assert str(arn) == "arn:aws:iam::123456789012:oidc-provider/idp.example:8443/realms/x"
    for bad in ("", "arn:aws", "notarn:aws:iam::1:x", "arn::iam::1:x", "arn:aws:iam::1:"):
        with pytest.raises(ValueError):
            parse_arn(bad)


def test_settings_validate_account_partition_and_root_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_ACCOUNT_ID", "123")
    with pytest.raises(ValueError, match="12 digits"):
        Settings()
    monkeypatch.setenv("BROKER_ACCOUNT_ID", "123456789012")
    monkeypatch.setenv("BROKER_ROOT_ACCESS_KEY_ID", "AKIAAAAAAAAAAAAAAAAA")
    with pytest.raises(ValueError, match="both"):
        Settings()
    monkeypatch.setenv("BROKER_ROOT_SECRET_ACCESS_KEY", "s" * 40)
    s = Settings()
    assert s.account_id == "123456789012" and "ssss" not in repr(s)


def test_settings_from_toml_file_with_env_winning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "broker.toml"
    cfg.write_text('broker_account_id = "111111111111"\nbroker_partition = "aws-us-gov"\n')
    monkeypatch.setenv("BROKER_CONFIG", str(cfg))
    assert Settings().account_id == "111111111111" and Settings().partition == "aws-us-gov"
    monkeypatch.setenv("BROKER_ACCOUNT_ID", "222222222222")
    assert Settings().account_id == "222222222222"


def test_postgres_urls_use_psycopg3() -> None:
    assert Settings(database_url="postgresql://u@h/db").effective_database_url == "postgresql+psycopg://u@h/db"


def test_only_clock_module_reads_wall_time() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "clock.py" and path.parent == PACKAGE:
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", "utcnow(", "time.time(", "date.today("):
            if needle in text:
                offenders.append(f"{path.relative_to(PACKAGE)}: {needle}")
    assert offenders == []


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock()
    before = clock.now()
    clock.advance(90)
    assert (clock.now() - before).total_seconds() == 90


def test_envelope_round_trip_binds_aad_and_master_key() -> None:
    env = Envelope(b"k" * 32)
    blob = env.seal(b"the secret", b"access-key:AKIA1")
    assert b"the secret" not in blob
    assert env.open(blob, b"access-key:AKIA1") == b"the secret"
    with pytest.raises(EnvelopeError, match="authentication"):
        env.open(blob, b"access-key:AKIA2")
    with pytest.raises(EnvelopeError, match="different master key"):
        Envelope(b"j" * 32).open(blob, b"access-key:AKIA1")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(EnvelopeError):
        env.open(bytes(tampered), b"access-key:AKIA1")
    with pytest.raises(EnvelopeError, match="version"):
        env.open(b"\x02" + blob[1:], b"access-key:AKIA1")
    assert "kkkk" not in repr(env)


def test_master_key_generated_once_with_private_mode(tmp_path: Path) -> None:
    from broker.bootstrap import load_master_key

    settings = Settings(home=tmp_path / "home")
    first = load_master_key(settings)
    assert load_master_key(settings) == first and len(first) == 32
    assert (tmp_path / "home" / "master.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700


def test_master_key_from_env_and_file(tmp_path: Path) -> None:
    from broker.bootstrap import BootstrapError, load_master_key

    key = bytes(range(32))
    assert load_master_key(Settings(master_key=base64.b64encode(key).decode(), home=tmp_path)) == key
    f = tmp_path / "kek"
    f.write_text(base64.b64encode(key).decode())
    assert load_master_key(Settings(master_key=f"file:{f}", home=tmp_path)) == key
    with pytest.raises(BootstrapError, match="32 bytes"):
        load_master_key(Settings(master_key=base64.b64encode(b"short").decode(), home=tmp_path))
    with pytest.raises(BootstrapError, match="base64"):
        load_master_key(Settings(master_key="!!!not base64!!!", home=tmp_path))
