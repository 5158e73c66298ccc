"""Virtual MFA devices: TOTP (RFC 6238) seeds, codes, provisioning URI and QR code.

AWS virtual MFA devices are RFC 6238 TOTP with HMAC-SHA-1, six digits and a 30-second time step
(IAM User Guide, "Assign a virtual MFA device in the AWS Management Console",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable_virtual.html; RFC 6238 §4
and §5.2 for the step and the validation window). ``CreateVirtualMFADevice`` returns the seed as a
Base32 string and as a QR code encoding an ``otpauth://totp/`` URI (IAM API Reference,
API_VirtualMFADevice, https://docs.aws.amazon.com/IAM/latest/APIReference/API_VirtualMFADevice.html).

Pure given its inputs: codes come from :mod:`pyotp`, the QR code from :mod:`segno`, randomness from an
injected :class:`~broker.ids.Entropy` and time from the caller. Replay protection (a time step used at
most once per device) is the caller's job, through the store's atomic ``use_mfa_step``.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime

import pyotp
import pyotp.utils
import segno

from broker.ids import Entropy

__all__ = [
    "DIGITS",
    "PERIOD_SECONDS",
    "SEED_BYTES",
    "WINDOW_STEPS",
    "Seed",
    "code_at_step",
    "consecutive_step",
    "matching_step",
    "new_seed",
    "otpauth_uri",
    "qr_png",
    "time_step",
]

DIGITS = 6
PERIOD_SECONDS = 30
WINDOW_STEPS = 1
"""Codes of the previous and next time step are accepted too (RFC 6238 §5.2: one step of delay)."""
SEED_BYTES = 40
"""AWS's Base32StringSeed is 64 characters, i.e. 40 random bytes."""


@dataclass(frozen=True, slots=True)
class Seed:
    """A TOTP shared secret as a Base32 string; its repr never shows the value."""

    base32: str

    def __repr__(self) -> str:
        return "Seed(**********)"

    def __str__(self) -> str:
        return "**********"


def new_seed(entropy: Entropy) -> Seed:
    """A fresh 320-bit seed, Base32-encoded without padding (64 characters)."""
    return Seed(base64.b32encode(entropy.token_bytes(SEED_BYTES)).decode("ascii").rstrip("="))


def _totp(seed: Seed) -> pyotp.TOTP:
    return pyotp.TOTP(seed.base32, digits=DIGITS, interval=PERIOD_SECONDS)


def time_step(at: datetime) -> int:
    """RFC 6238 §4.2: ``T = floor((unix time - T0) / X)`` with ``T0 = 0`` and ``X = 30``."""
    return int(at.timestamp()) // PERIOD_SECONDS


def code_at_step(seed: Seed, step: int) -> str:
    """The six-digit code of ``step`` (HOTP of the step counter, RFC 4226 §5.3)."""
    return _totp(seed).generate_otp(step)


def _equal(code: str, expected: str) -> bool:
    return pyotp.utils.strings_equal(code, expected)  # constant time


def matching_step(seed: Seed, code: str, at: datetime, *, window: int = WINDOW_STEPS) -> int | None:
    """The time step within ``±window`` of ``at`` whose code is ``code``, or ``None``.

    When two steps of the window share a code (a one-in-a-million chance), the latest wins, so the
    device's replay marker moves as far forward as the evidence allows.
    """
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    now = time_step(at)
    found: int | None = None
    for step in range(now - window, now + window + 1):
        if _equal(code, code_at_step(seed, step)):
            found = step
    return found


def consecutive_step(seed: Seed, code1: str, code2: str, at: datetime, *, window: int = WINDOW_STEPS) -> int | None:
    """The step ``s`` of ``code2`` when ``code1`` is the code of ``s - 1`` and ``s`` is within ``±window``.

    EnableMFADevice and ResyncMFADevice take "two consecutive authentication codes" (IAM API Reference,
    API_EnableMFADevice, https://docs.aws.amazon.com/IAM/latest/APIReference/API_EnableMFADevice.html).
    """
    second = matching_step(seed, code2, at, window=window)
    if second is None or len(code1) != DIGITS or not (code1.isascii() and code1.isdigit()):
        return None
    if _equal(code1, code_at_step(seed, second - 1)):
        return second
    return None


def otpauth_uri(seed: Seed, *, account_name: str, issuer: str) -> str:
    """The Key Uri Format authenticator apps scan: ``otpauth://totp/ISSUER:NAME?secret=…&issuer=…``."""
    return _totp(seed).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_png(uri: str) -> bytes:
    """The QR code of ``uri`` as PNG bytes (error correction M, as authenticator enrolment pages use)."""
    out = io.BytesIO()
    segno.make_qr(uri, error="m").save(out, kind="png", scale=4, border=4)
    return out.getvalue()
