"""Signature and claim checks with an injected time: every failure is a clean AWS error."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from oidc_test_helpers import AUD, ISSUER, NOW, PROVIDER, T, hs256, idp, keyset

from broker.errors import BrokerError, ExpiredTokenException, InvalidIdentityToken
from broker.federation.oidc.jose import parse_token
from broker.federation.oidc.keys import parse_jwks
from broker.federation.oidc.verify import Rules, verify_token

RULES = Rules(skew_seconds=60, max_age_seconds=3600)


def _verify(token: str, keys: Any, client_ids: tuple[str, ...] = (AUD,), rules: Rules = RULES) -> Any:
    return verify_token(parse_token(token), provider_arn=PROVIDER, client_ids=client_ids, keys=keys, now=NOW,
                        rules=rules)


def _refused(kind: type[BrokerError], token: str, keys: Any, **kw: Any) -> BrokerError:
    with pytest.raises(kind) as info:
        _verify(token, keys, **kw)
    return info.value


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                                 "EdDSA"])
def test_every_allowed_algorithm_verifies(alg: str) -> None:
    provider = idp(alg)
    identity = _verify(provider.mint(now=T, profile="github"), keyset(provider))
    assert identity.subject == "repo:octo-org/octo-repo:ref:refs/heads/main"
    assert identity.audience == AUD
    assert identity.algorithm == alg
    assert identity.context["idp.example:8443/realms/ci:repository"] == "octo-org/octo-repo"
    assert identity.context["idp.example:8443/realms/ci:aud"] == AUD


def test_rs_to_hs_confusion_with_public_key_as_secret_is_refused() -> None:
    provider = idp()
    pem = provider.keyring.active.private.public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = hs256({"alg": "HS256", "kid": provider.keyring.active.kid},
                   {"iss": ISSUER, "sub": "x", "aud": AUD, "iat": T, "exp": T + 60}, pem)
    error = _refused(InvalidIdentityToken, forged, keyset(provider))
    assert error.message == "The ID token is signed with an algorithm broker does not accept"


def test_tampered_payload_fails_the_signature() -> None:
    provider = idp()
    head, _, sig = provider.mint(now=T, sub="alice").split(".")
    other = provider.mint(now=T, sub="mallory").split(".")[1]
    error = _refused(InvalidIdentityToken, f"{head}.{other}.{sig}", keyset(provider))
    assert error.message == "The ID token signature is invalid"


def test_tampered_signature_is_refused() -> None:
    provider = idp("ES256")
    token = provider.mint(now=T)
    flipped = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _refused(InvalidIdentityToken, flipped, keyset(provider)).message == "The ID token signature is invalid"


def test_signature_from_another_issuers_key_with_the_same_kid_is_refused() -> None:
    ours, theirs = idp(), idp()
    forged = theirs.mint(now=T, headers={"kid": ours.keyring.active.kid})
    assert _refused(InvalidIdentityToken, forged, keyset(ours)).message == "The ID token signature is invalid"


def test_unknown_kid_is_refused() -> None:
    provider = idp()
    token = provider.mint(now=T, headers={"kid": "nope"})
    error = _refused(InvalidIdentityToken, token, keyset(provider))
    assert error.detail == "kid 'nope' is not in the issuer's JWKS"


def test_key_type_must_fit_the_algorithm() -> None:
    rsa, ec = idp("RS256"), idp("ES256")
    token = ec.mint(now=T, headers={"kid": rsa.keyring.active.kid})  # ES256 token naming an RSA key
    error = _refused(InvalidIdentityToken, token, keyset(rsa))
    assert error.message == "The ID token's key does not fit its algorithm"


@pytest.mark.parametrize(
    ("aud", "client_ids", "detail"),
    [
        ("other", (AUD,), "aud 'other' is not a client id of the provider"),
        (["x", "y"], (AUD,), "no member of aud ['x', 'y'] is a client id of the provider"),
        ([AUD, "second"], (AUD, "second"), "aud names several client ids ['sts.amazonaws.com', 'second']: ambiguous"),
        ([], (AUD,), "aud [] is neither a string nor a list of strings"),
        (5, (AUD,), "aud 5 is neither a string nor a list of strings"),
    ],
)
def test_wrong_audience_is_refused(aud: Any, client_ids: tuple[str, ...], detail: str) -> None:
    provider = idp()
    error = _refused(InvalidIdentityToken, provider.mint(now=T, audience=aud), keyset(provider), client_ids=client_ids)
    assert error.message == "Incorrect token audience"
    assert error.detail == detail


def test_missing_audience_is_refused() -> None:
    provider = idp()
    error = _refused(InvalidIdentityToken, provider.mint(now=T, drop=("aud",)), keyset(provider))
    assert error.message == "Incorrect token audience"


def test_audience_list_with_one_client_id_is_accepted_and_azp_must_match() -> None:
    provider = idp()
    keys = keyset(provider)
    assert _verify(provider.mint(now=T, audience=["other", AUD]), keys).audience == AUD
    bad = provider.mint(now=T, audience=["other", AUD], claims={"azp": "other"})
    assert _refused(InvalidIdentityToken, bad, keys).detail == (
        "azp 'other' differs from the matched audience 'sts.amazonaws.com'"
    )


def test_expired_token_is_expired_token_exception() -> None:
    provider = idp()
    token = provider.mint(now=T - 400, lifetime=300)  # exp = T - 100, beyond the 60 s skew
    error = _refused(ExpiredTokenException, token, keyset(provider))
    assert error.code == "ExpiredTokenException"
    assert error.message.startswith("Token expired: current date/time 2026-01-01T12:00:00Z")


def test_expiry_edge_honours_the_skew_exactly() -> None:
    provider = idp()
    keys = keyset(provider)
    _verify(provider.mint(now=T - 300, lifetime=241), keys)  # exp = T - 59: inside the skew
    _refused(ExpiredTokenException, provider.mint(now=T - 300, lifetime=240), keys)  # exp + skew == now


def test_not_yet_valid_and_issued_in_the_future_are_refused() -> None:
    provider = idp()
    keys = keyset(provider)
    nbf = _refused(InvalidIdentityToken, provider.mint(now=T, claims={"nbf": T + 61}), keys)
    assert nbf.message == "The ID token is not yet valid"
    future = _refused(InvalidIdentityToken, provider.mint(now=T + 61, lifetime=600, claims={"nbf": T}), keys)
    assert future.message == "The ID token was issued in the future"


def test_too_old_token_is_refused() -> None:
    provider = idp()
    token = provider.mint(now=T - 3700, lifetime=7200)
    error = _refused(ExpiredTokenException, token, keyset(provider))
    assert error.message == "Token too old: 3700"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_required_claims(claim: str) -> None:
    provider = idp()
    _refused(InvalidIdentityToken, provider.mint(now=T, drop=(claim,)), keyset(provider))


@pytest.mark.parametrize("value", ["1700000000", 1.5, True])
def test_timestamps_must_be_integers(value: Any) -> None:
    provider = idp()
    error = _refused(InvalidIdentityToken, provider.mint(now=T, claims={"exp": value}), keyset(provider))
    assert error.message == "The ID token's exp claim must be an integer timestamp"


def test_session_tags_and_source_identity_claims() -> None:
    provider = idp()
    claims = {
        "https://aws.amazon.com/tags": {
            "principal_tags": {"Project": ["Automation"]}, "transitive_tag_keys": ["Project"]
        },
        "https://aws.amazon.com/source_identity": "alice",
    }
    identity = _verify(provider.mint(now=T, claims=claims), keyset(provider))
    assert identity.session_tags == (("Project", "Automation"),)
    assert identity.transitive_tag_keys == ("Project",)
    assert identity.source_identity == "alice"
    multi = {"https://aws.amazon.com/tags": {"principal_tags": {"P": ["a", "b"]}}}
    error = _refused(InvalidIdentityToken, provider.mint(now=T, claims=multi), keyset(provider))
    assert error.detail == "tag 'P': the value must be a list of exactly one string"


def test_jwks_with_bad_keys_skips_them_with_reasons() -> None:
    provider = idp()
    good = provider.jwks()["keys"][0]
    doc = {"keys": [good, {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}, {"kty": "RSA"}, "junk",
                    dict(good, kid="priv", d="AAAA"), {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}]}
    keys = parse_jwks(doc)
    assert sorted(keys.keys) == sorted([good["kid"], "broken"])
    assert keys.skipped == ["keys[1] (h): kty 'oct' not usable", "keys[2]: no kid", "keys[3]: not an object",
                            "keys[4] (priv): private key material published"]
    with pytest.raises(InvalidIdentityToken) as info:
        keys.key_for("broken", "RS256")
    assert info.value.message == "The identity provider's verification key is unusable"
    with pytest.raises(ValueError, match="no 'keys' array"):
        parse_jwks({"nokeys": []})
