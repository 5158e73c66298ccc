"""Token shape and header rules: each bad-input class refused with InvalidIdentityToken and its reason."""

from __future__ import annotations

import pytest
from oidc_test_helpers import ISSUER, T, raw_token

from broker.errors import InvalidIdentityToken
from broker.federation.oidc.jose import ALLOWED_ALGORITHMS, MAX_TOKEN_CHARS, parse_token

PAYLOAD = {"iss": ISSUER, "sub": "s", "aud": "a", "iat": T, "exp": T + 60}


def _refused(token: str) -> InvalidIdentityToken:
    with pytest.raises(InvalidIdentityToken) as info:
        parse_token(token)
    assert info.value.code == "InvalidIdentityToken"
    assert info.value.status == 400
    return info.value


def test_well_formed_token_parses() -> None:
    token = parse_token(raw_token({"alg": "RS256", "kid": "k1"}, PAYLOAD))
    assert (token.algorithm, token.key_id, token.issuer) == ("RS256", "k1", ISSUER)


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "HS384", "HS512", "RS1", "", None, 5])
def test_algorithms_outside_the_allow_list_are_refused(alg: object) -> None:
    error = _refused(raw_token({"alg": alg, "kid": "k1"}, PAYLOAD))
    assert error.message == "The ID token is signed with an algorithm broker does not accept"
    assert repr(alg) in str(error.detail)


def test_allow_list_is_exactly_the_asymmetric_set() -> None:
    assert ALLOWED_ALGORITHMS == {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
    }


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c", "crit"])
def test_embedded_key_and_crit_headers_are_refused(name: str) -> None:
    error = _refused(raw_token({"alg": "RS256", "kid": "k1", name: "https://evil.example/x"}, PAYLOAD))
    assert error.message == "The ID token header carries parameters broker refuses"
    assert f"'{name}'" in str(error.detail)


@pytest.mark.parametrize("kid", [None, "", 7])
def test_missing_or_non_string_kid_is_refused(kid: object) -> None:
    header = {"alg": "RS256"} if kid is None else {"alg": "RS256", "kid": kid}
    assert _refused(raw_token(header, PAYLOAD)).message == "The ID token header has no key id (kid)"


def test_duplicate_keys_in_payload_are_refused() -> None:
    payload = f'{{"iss": "{ISSUER}", "sub": "a", "sub": "b"}}'
    error = _refused(raw_token({"alg": "RS256", "kid": "k"}, payload))
    assert error.detail == "duplicate member 'sub' in the payload"


def test_duplicate_keys_in_header_are_refused() -> None:
    error = _refused(raw_token('{"alg": "RS256", "alg": "none", "kid": "k"}', PAYLOAD))
    assert error.detail == "duplicate member 'alg' in the header"


def test_oversized_token_is_refused_before_parsing() -> None:
    error = _refused("a" * (MAX_TOKEN_CHARS + 1))
    assert error.message == f"The ID token is larger than {MAX_TOKEN_CHARS} characters"


@pytest.mark.parametrize("token", ["abc", "a.b", "a.b.c.d.e", "!!.??.##", ""])
def test_malformed_compact_serialisation_is_refused(token: str) -> None:
    assert _refused(token).message == "The ID token provided is not a well-formed JSON Web Token"


def test_non_object_payload_and_missing_issuer_are_refused() -> None:
    assert _refused(raw_token({"alg": "RS256", "kid": "k"}, "[1, 2]")).detail == "the payload is not a JSON object"
    no_iss = {k: v for k, v in PAYLOAD.items() if k != "iss"}
    assert _refused(raw_token({"alg": "RS256", "kid": "k"}, no_iss)).message == "The ID token has no issuer (iss)"


def test_nan_constants_are_refused() -> None:
    payload = f'{{"iss": "{ISSUER}", "exp": NaN}}'
    assert "not JSON" in str(_refused(raw_token({"alg": "RS256", "kid": "k"}, payload)).detail)
