"""Claims as condition keys: every scalar/list claim, the documented nested path syntax, the prefix."""

from __future__ import annotations

from broker.federation.oidc.claims import MAX_KEYS, claim_path, context_keys, key_prefix
from idp_fixtures.oidc.profiles import kubernetes


def test_prefix_keeps_path_and_port() -> None:
    assert key_prefix("https://idp.example:8443/realms/x") == "idp.example:8443/realms/x"
    assert key_prefix("http://127.0.0.1:9000") == "127.0.0.1:9000"
    assert key_prefix("https://token.actions.githubusercontent.com") == "token.actions.githubusercontent.com"


def test_scalars_lists_and_matched_audience() -> None:
    keys = context_keys("p", {"sub": "s", "aud": ["a", "b"], "amr": ["pwd", "mfa"], "n": 7, "ok": True,
                              "gone": None, "objs": [{"x": 1}]}, "b")
    assert keys == {"p:sub": "s", "p:oaud": ["a", "b"], "p:amr": ["pwd", "mfa"], "p:n": "7", "p:ok": "true",
                    "p:aud": "b"}


def test_nested_claims_use_the_pointer_like_path() -> None:
    keys = context_keys("k", kubernetes(), "sts")
    assert keys["k:kubernetes.io/namespace"] == "payments"
    assert keys["k:kubernetes.io/serviceaccount/name"] == "deployer"
    assert keys["k:kubernetes.io/pod/uid"] == "2f1a2a9e-0000-4000-8000-000000000002"
    assert claim_path("https://example.com/x", "a~b") == "https:~1~1example.com~1x/a~0b"


def test_session_tag_claim_is_not_a_condition_key_and_sizes_are_bounded() -> None:
    keys = context_keys("p", {"https://aws.amazon.com/tags": {"principal_tags": {"a": ["b"]}}}, "x")
    assert keys == {"p:aud": "x"}
    many = context_keys("p", {f"c{i}": "v" for i in range(MAX_KEYS + 50)}, "x")
    assert len(many) == MAX_KEYS + 1  # the capped claims plus :aud
    deep = context_keys("p", {"a": {"b": {"c": {"d": {"e": "too deep"}}}}}, "x")
    assert deep == {"p:aud": "x"}
