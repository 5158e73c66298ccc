"""Pure helpers of the SAML browser login and token exchange: duration clamping with its explanation and
base64url subject tokens."""

from __future__ import annotations

import base64

import pytest

from broker.service.saml_exchange import standard_base64
from broker.service.saml_login import clamp_duration


@pytest.mark.parametrize(("requested", "idp", "maximum", "expected"), [
    (None, None, 3600, (3600, None)),
    (None, 1800, 3600, (1800, None)),
    (None, 7200, 3600, (3600, "requested 7200 s exceeds the role's MaxSessionDuration; clamped to 3600 s")),
    (5000, 1800, 7200, (5000, None)),
    (99999, None, 43200, (43200, "requested 99999 s exceeds the role's MaxSessionDuration; clamped to 43200 s")),
    (60, None, 3600, (900, "requested 60 s is below the 900 s minimum; raised to 900 s")),
    (3600, None, 3600, (3600, None)),
])
def test_clamp_duration(requested: int | None, idp: int | None, maximum: int,
                        expected: tuple[int, str | None]) -> None:
    assert clamp_duration(requested, idp, maximum) == expected


@pytest.mark.parametrize("raw", [b"<samlp:Response/>", b"\xfb\xff\xfe" * 7, b"a"])
def test_standard_base64_accepts_both_alphabets(raw: bytes) -> None:
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert standard_base64(std) == std
    assert base64.b64decode(standard_base64(url)) == raw
    assert standard_base64(" " + std[:4] + "\n" + std[4:]) == std
