"""Sealed login cookies (HKDF + AES-GCM, name-bound, expiring) and the two CSRF checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from broker.api.web.cookies import MAX_COOKIE, CookieSealer, LoginStateError
from broker.api.web.csrf import CsrfError, check_csrf, new_csrf_token
from broker.ids import SystemEntropy

NOW = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
KEY = bytes(range(32))
PUBLIC = "https://broker.example"


def sealer(key: bytes = KEY) -> CookieSealer:
    return CookieSealer(key, SystemEntropy())


def test_round_trip_until_the_exact_expiry() -> None:
    value = sealer().seal("login", {"s": "state", "n": 1}, now=NOW, ttl=600)
    assert sealer().open("login", value, now=NOW + timedelta(seconds=599)) == {"s": "state", "n": 1}
    with pytest.raises(LoginStateError, match="the login has expired; start again"):
        sealer().open("login", value, now=NOW + timedelta(seconds=600))


def test_another_node_with_the_same_master_key_opens_it_and_another_key_does_not() -> None:
    value = sealer().seal("login", {"a": 1}, now=NOW, ttl=60)
    assert CookieSealer(KEY, SystemEntropy()).open("login", value, now=NOW) == {"a": 1}
    with pytest.raises(LoginStateError, match="the login cookie failed authentication"):
        sealer(bytes(32)).open("login", value, now=NOW)


def test_a_value_moved_to_another_cookie_name_does_not_open() -> None:
    value = sealer().seal("broker_oidc_auth", {"a": 1}, now=NOW, ttl=60)
    with pytest.raises(LoginStateError, match="failed authentication"):
        sealer().open("broker_oidc_session", value, now=NOW)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "no login in progress (the login cookie is missing)"),
        ("", "no login in progress (the login cookie is missing)"),
        ("!!!not base64!!!", "the login cookie is not one of ours"),
        (base64.urlsafe_b64encode(b"\x02" + bytes(40)).decode(), "the login cookie is not one of ours"),
        ("A" * (MAX_COOKIE + 1), "the login cookie is too large"),
    ],
)
def test_garbage_is_refused(value: str | None, message: str) -> None:
    with pytest.raises(LoginStateError) as info:
        sealer().open("login", value, now=NOW)
    assert str(info.value) == message


def test_every_flipped_byte_is_refused() -> None:
    value = sealer().seal("login", {"a": 1}, now=NOW, ttl=60)
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    for i in range(1, len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(tampered)).rstrip(b"=").decode()
        with pytest.raises(LoginStateError):
            sealer().open("login", text, now=NOW)


def test_oversized_state_is_refused_when_sealing_and_key_never_in_repr() -> None:
    with pytest.raises(LoginStateError, match="too large for a cookie"):
        sealer().seal("login", {"t": "x" * 4000}, now=NOW, ttl=60)
    assert repr(sealer()) == "CookieSealer(key=**********)"
    with pytest.raises(ValueError, match="32 bytes"):
        CookieSealer(b"short", SystemEntropy())


def test_csrf_token_must_match() -> None:
    token = new_csrf_token(SystemEntropy())
    assert len(token) == 64
    check_csrf(token, token, {}, PUBLIC)
    for submitted in (None, "", token[:-1] + ("0" if token[-1] != "0" else "1")):
        with pytest.raises(CsrfError, match="CSRF token is missing or does not match"):
            check_csrf(token, submitted, {}, PUBLIC)
    with pytest.raises(CsrfError):
        check_csrf("", "", {}, PUBLIC)


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"origin": "https://broker.example"}, True),
        ({"origin": "https://broker.example:443"}, True),
        ({"origin": "https://BROKER.example"}, True),
        ({"referer": "https://broker.example/oidc/callback?x=1"}, True),
        ({"origin": "http://broker.example"}, False),
        ({"origin": "https://broker.example:8443"}, False),
        ({"origin": "https://broker.example.evil.test"}, False),
        ({"origin": "null"}, False),
        ({"referer": "https://evil.test/page"}, False),
        ({"origin": "https://evil.test", "referer": "https://broker.example/"}, False),
    ],
)
def test_origin_check(headers: dict[str, str], ok: bool) -> None:
    if ok:
        check_csrf("t", "t", headers, PUBLIC)
    else:
        with pytest.raises(CsrfError, match="the form was posted from another site"):
            check_csrf("t", "t", headers, PUBLIC)
