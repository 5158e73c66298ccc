"""Minting: AWS shapes of the key pair, whole-second times, PackedPolicySize and its refusal."""

from __future__ import annotations

import json
import random
import re
import string
from datetime import UTC, datetime

import pytest

from broker.credentials.keyring import Keyring, generate_key
from broker.credentials.mint import PACKED_POLICY_ALLOWANCE, SessionSpec, mint, packed_policy_percent
from broker.credentials.session_token import SessionTokenCodec
from broker.errors import PackedPolicyTooLarge

T0 = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)


class Seeded:
    def __init__(self, seed: int = 11) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


def _spec(**over: object) -> SessionSpec:
    fields: dict[str, object] = dict(
        kind="assumed-role", account="123456789012", principal_arn="arn:aws:iam::123456789012:role/app",
        principal_id="AROAAAAAAAAAAAAAAAAAA", principal_name="app", duration_seconds=900, session_name="s",
    )
    fields.update(over)
    return SessionSpec(**fields)  # type: ignore[arg-type]


def test_mint_shapes_and_round_trip() -> None:
    codec = SessionTokenCodec(Keyring([generate_key("session-token", now=T0, entropy=Seeded(1))]))
    minted = mint(_spec(), codec=codec, now=T0, entropy=Seeded())
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", minted.access_key_id)
    assert len(minted.secret_access_key) == 40
    assert minted.expiration == datetime(2026, 1, 1, 12, 15, tzinfo=UTC)
    assert minted.packed_policy_size is None
    claims = codec.open_at(minted.session_token, T0)
    assert claims.issued_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert claims.secret_access_key == minted.secret_access_key
    assert minted.secret_access_key not in repr(minted) and minted.session_token not in repr(minted)
    assert len(minted.session_token) < 1024


def test_packed_policy_size_reported_for_policies_and_tags() -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                                "Resource": "arn:aws:s3:::bucket/*"}]}, indent=2)
    percent = packed_policy_percent(policy, (), (("team", "blue"),))
    assert percent is not None and 1 <= percent <= 10
    assert packed_policy_percent(None, (), ()) is None
    # Whitespace does not count: the minified and the indented document pack the same.
    assert packed_policy_percent(policy, (), ()) == packed_policy_percent(json.dumps(json.loads(policy)), (), ())


def test_packed_policy_too_large_with_aws_wording() -> None:
    rng = random.Random(5)
    tags = tuple(
        ("".join(rng.choices(string.ascii_letters, k=128)), "".join(rng.choices(string.ascii_letters, k=256)))
        for _ in range(50)
    )
    with pytest.raises(PackedPolicyTooLarge) as exc:
        packed_policy_percent(None, (), tags)
    assert exc.value.code == "PackedPolicyTooLarge"
    wording = r"Packed policy consumes \d{3,}% of allotted space, please use smaller policy\."
    assert re.fullmatch(wording, exc.value.message)
    assert str(PACKED_POLICY_ALLOWANCE) in exc.value.detail


def test_mint_refuses_oversized_and_issues_nothing() -> None:
    codec = SessionTokenCodec(Keyring([generate_key("session-token", now=T0, entropy=Seeded(1))]))
    rng = random.Random(6)
    tags = tuple((f"k{i}", "".join(rng.choices(string.ascii_letters, k=256))) for i in range(50))
    with pytest.raises(PackedPolicyTooLarge):
        mint(_spec(tags=tags), codec=codec, now=T0, entropy=Seeded())
    assert codec._cache == {}  # nothing sealed or opened


def test_boundary_of_allowance() -> None:
    # Find a random payload just at/under 100 % and check the rounding (ceil) of the percentage.
    rng = random.Random(8)
    value = "".join(rng.choices(string.ascii_letters + string.digits, k=2000))
    p = packed_policy_percent(None, (), (("k", value),))
    assert p is not None and 70 <= p <= 100
    # ceil(100 * 21 bytes / 2048) == 2: the smallest non-empty session still reports a positive size.
    assert packed_policy_percent(None, (), (("k", "v"),)) == 2
