"""TOTP for virtual MFA devices: RFC 6238 vectors, windows, consecutive codes, URI and QR code.

Vectors: RFC 6238 Appendix B (SHA-1 rows, seed ASCII "12345678901234567890"), truncated to the six
digits AWS virtual MFA devices use (RFC 4226 §5.3: the last six digits of the eight-digit value).
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest

from broker.credentials import mfa

RFC_SEED = mfa.Seed(base64.b32encode(b"12345678901234567890").decode())
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


class Entropy:
    def __init__(self) -> None:
        self.rng = random.Random(7)

    def token_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(("unix", "eight"), RFC6238_SHA1)
def test_rfc6238_sha1_vectors(unix: int, eight: str) -> None:
    step = mfa.time_step(at(unix))
    assert step == unix // 30
    assert mfa.code_at_step(RFC_SEED, step) == eight[-6:]
    assert mfa.matching_step(RFC_SEED, eight[-6:], at(unix)) == step


def test_new_seed_is_64_base32_chars_from_entropy() -> None:
    seed = mfa.new_seed(Entropy())
    assert len(seed.base32) == 64
    assert base64.b32decode(seed.base32) == random.Random(7).randbytes(40)


def test_seed_never_prints() -> None:
    seed = mfa.new_seed(Entropy())
    assert seed.base32 not in repr(seed)
    assert seed.base32 not in str(seed)
    assert repr(seed) == "Seed(**********)"


def test_window_accepts_one_step_either_side_only() -> None:
    now = at(1_700_000_015)
    step = mfa.time_step(now)
    for delta in (-1, 0, 1):
        assert mfa.matching_step(RFC_SEED, mfa.code_at_step(RFC_SEED, step + delta), now) == step + delta
    for delta in (-3, -2, 2, 3):
        code = mfa.code_at_step(RFC_SEED, step + delta)
        if code not in {mfa.code_at_step(RFC_SEED, step + d) for d in (-1, 0, 1)}:
            assert mfa.matching_step(RFC_SEED, code, now) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "12345a", " 12345", "\uff11\uff12\uff13\uff14\uff15\uff16"])
def test_malformed_codes_never_match(bad: str) -> None:
    assert mfa.matching_step(RFC_SEED, bad, at(59)) is None
    assert mfa.consecutive_step(RFC_SEED, bad, "287082", at(59)) is None


def test_consecutive_codes() -> None:
    now = at(1_700_000_015)
    step = mfa.time_step(now)
    c = [mfa.code_at_step(RFC_SEED, step + d) for d in (-2, -1, 0, 1)]
    assert mfa.consecutive_step(RFC_SEED, c[1], c[2], now) == step
    assert mfa.consecutive_step(RFC_SEED, c[2], c[3], now) == step + 1
    assert mfa.consecutive_step(RFC_SEED, c[0], c[1], now) == step - 1
    assert mfa.consecutive_step(RFC_SEED, c[2], c[1], now) is None  # reversed
    assert mfa.consecutive_step(RFC_SEED, c[0], c[2], now) is None  # not consecutive
    assert mfa.consecutive_step(RFC_SEED, c[2], c[2], now) is None  # the same code twice


def test_codes_of_another_seed_do_not_match() -> None:
    other = mfa.new_seed(Entropy())
    now = at(1_700_000_015)
    code = mfa.code_at_step(other, mfa.time_step(now))
    if code not in {mfa.code_at_step(RFC_SEED, mfa.time_step(now) + d) for d in (-1, 0, 1)}:
        assert mfa.matching_step(RFC_SEED, code, now) is None


def test_step_boundaries() -> None:
    assert mfa.time_step(at(29)) == 0
    assert mfa.time_step(at(30)) == 1
    assert mfa.time_step(at(30) + timedelta(microseconds=999_999)) == 1


def test_otpauth_uri_and_png() -> None:
    uri = mfa.otpauth_uri(RFC_SEED, account_name="dev@123456789012", issuer="broker")
    assert uri.startswith("otpauth://totp/broker:dev%40123456789012?")
    assert f"secret={RFC_SEED.base32}" in uri
    assert "issuer=broker" in uri
    png = mfa.qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 200
