"""OIDC provider operations on both engines: AWS shapes, URL rules, limits, idempotence, tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from broker.errors import AccessDenied, EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from broker.principal import Principal
from broker.service.providers import OPERATIONS, ProviderSettings, make_operations
from broker.store.sqlalchemy.store import SqlStore

Caller = Callable[..., dict[str, Any]]
OPS = OPERATIONS
ARN = "arn:aws:iam::123456789012:oidc-provider/"
TP = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def create(call: Caller, url: str = "https://token.actions.githubusercontent.com", **kw: Any) -> str:
    out = call(OPS["CreateOpenIDConnectProvider"], Url=url, **kw)
    return str(out["OpenIDConnectProviderArn"])


def test_create_get_list_delete(call: Caller, store: SqlStore) -> None:
    arn = create(call, ClientIDList=["sts.amazonaws.com", "sts.amazonaws.com", "b"], ThumbprintList=[TP])
    assert arn == ARN + "token.actions.githubusercontent.com"
    got = call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)
    assert got["Url"] == "token.actions.githubusercontent.com"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "b"]
    assert got["ThumbprintList"] == [TP]
    assert got["CreateDate"].isoformat() == "2026-01-01T12:00:00+00:00"
    assert "Tags" not in got
    assert call(OPS["ListOpenIDConnectProviders"]) == {"OpenIDConnectProviderList": [{"Arn": arn}]}
    assert call(OPS["DeleteOpenIDConnectProvider"], OpenIDConnectProviderArn=arn) == {}
    assert call(OPS["ListOpenIDConnectProviders"]) == {"OpenIDConnectProviderList": []}
    with pytest.raises(NoSuchEntity) as info:
        call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)
    assert info.value.message == f"OpenIDConnect Provider not found for arn {arn}"


def test_port_and_path_are_kept_and_url_is_findable_exactly(call: Caller, store: SqlStore) -> None:
    url = "https://idp.example:8443/realms/x"
    arn = create(call, url)
    assert arn == ARN + "idp.example:8443/realms/x"
    with store.transaction() as tx:
        found = tx.providers.get_oidc_by_url(url)
        assert found is not None and found.arn == arn
        assert tx.providers.get_oidc_by_url("https://idp.example:8443/realms/x/") is None
        assert tx.providers.get_oidc_by_url("https://IDP.example:8443/realms/x") is None
        assert tx.providers.get_oidc_by_url("https://idp.example/realms/x") is None


def test_duplicate_url_is_entity_already_exists(call: Caller) -> None:
    create(call)
    with pytest.raises(EntityAlreadyExists):
        create(call)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://idp.example", "The URL must begin with https:// (http:// issuers need BROKER_ALLOW_HTTP_ISSUERS=1)."),
        ("ftp://idp.example", "The URL must begin with https://."),
        ("ftp://", "The URL must begin with https://; The URL must name a host."),
        ("https://idp.example/x?a=b", "The URL must not contain a query string."),
        ("https://idp.example/x#f", "The URL must not contain a fragment."),
        ("https://user@idp.example", "The URL must not contain user information."),
        ("https://", "The URL must name a host."),
        ("https://idp.example:99999", "The URL is not a valid URL."),
    ],
)
def test_bad_urls_are_invalid_input_and_nothing_is_stored(call: Caller, url: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        create(call, url)
    assert info.value.message == message
    assert call(OPS["ListOpenIDConnectProviders"]) == {"OpenIDConnectProviderList": []}


def test_http_issuer_accepted_only_when_allowed(call: Caller) -> None:
    ops = make_operations(ProviderSettings(allow_http_issuers=True))
    arn = call(ops["CreateOpenIDConnectProvider"], Url="http://localhost:9000/idp")["OpenIDConnectProviderArn"]
    assert arn == ARN + "localhost:9000/idp"
    got = call(ops["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)
    assert got["Url"] == "http://localhost:9000/idp"


def test_thumbprint_rules(call: Caller) -> None:
    with pytest.raises(InvalidInput) as info:
        create(call, ThumbprintList=["z" * 40])
    assert info.value.message == "Thumbprints must be 40 hexadecimal characters."
    with pytest.raises(InvalidInput) as info:
        create(call, ThumbprintList=[f"{i:040x}" for i in range(6)])
    assert info.value.message == "Thumbprint list must contain at most 5 thumbprints."


def test_update_thumbprint_replaces_list(call: Caller) -> None:
    arn = create(call, ThumbprintList=[TP])
    new = ["a" * 40, "b" * 40]
    call(OPS["UpdateOpenIDConnectProviderThumbprint"], OpenIDConnectProviderArn=arn, ThumbprintList=new)
    assert call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)["ThumbprintList"] == new


def test_client_ids_add_remove_idempotent_and_limited(call: Caller) -> None:
    arn = create(call, ClientIDList=["a"])
    for _ in range(2):
        call(OPS["AddClientIDToOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, ClientID="b")
    assert call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)["ClientIDList"] == ["a", "b"]
    for _ in range(2):
        call(OPS["RemoveClientIDFromOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, ClientID="a")
    assert call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)["ClientIDList"] == ["b"]
    with pytest.raises(LimitExceeded):
        create(call, "https://other.example", ClientIDList=[str(i) for i in range(101)])
    full = create(call, "https://full.example", ClientIDList=[str(i) for i in range(100)])
    with pytest.raises(LimitExceeded):
        call(OPS["AddClientIDToOpenIDConnectProvider"], OpenIDConnectProviderArn=full, ClientID="x")


def test_provider_quota(call: Caller) -> None:
    ops = make_operations(ProviderSettings(max_oidc_providers=1))
    call(ops["CreateOpenIDConnectProvider"], Url="https://a.example")
    with pytest.raises(LimitExceeded) as info:
        call(ops["CreateOpenIDConnectProvider"], Url="https://b.example")
    assert info.value.message == "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 1"


def test_unknown_and_malformed_arns(call: Caller) -> None:
    with pytest.raises(NoSuchEntity):
        call(OPS["DeleteOpenIDConnectProvider"], OpenIDConnectProviderArn=ARN + "nope.example")
    with pytest.raises(InvalidInput) as info:
        call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn="arn:aws:iam::123456789012:role/x")
    assert info.value.message == "ARN arn:aws:iam::123456789012:role/x is not valid."
    with pytest.raises(InvalidInput):
        call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn="not-an-arn-at-all-xx")
    with pytest.raises(InvalidInput):  # another account's provider
        call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn="arn:aws:iam::999999999999:oidc-provider/a")


def test_tags_create_tag_untag_list(call: Caller) -> None:
    arn = create(call, Tags=[{"Key": "team", "Value": "a"}])
    call(OPS["TagOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, Tags=[{"Key": "Env", "Value": "prod"}])
    call(OPS["TagOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, Tags=[{"Key": "TEAM", "Value": "b"}])
    got = call(OPS["GetOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)
    assert got["Tags"] == [{"Key": "TEAM", "Value": "b"}, {"Key": "Env", "Value": "prod"}]
    page = call(OPS["ListOpenIDConnectProviderTags"], OpenIDConnectProviderArn=arn, MaxItems=1)
    assert page["Tags"] == [{"Key": "Env", "Value": "prod"}] and page["IsTruncated"] is True
    rest = call(OPS["ListOpenIDConnectProviderTags"], OpenIDConnectProviderArn=arn, Marker=page["Marker"])
    assert rest == {"Tags": [{"Key": "TEAM", "Value": "b"}], "IsTruncated": False}
    call(OPS["UntagOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, TagKeys=["team", "missing"])
    assert call(OPS["ListOpenIDConnectProviderTags"], OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "Env", "Value": "prod"}
    ]
    with pytest.raises(InvalidInput):
        call(OPS["TagOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}])
    with pytest.raises(LimitExceeded):
        call(
            OPS["TagOpenIDConnectProvider"],
            OpenIDConnectProviderArn=arn,
            Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)],
        )


def test_non_root_caller_is_denied_and_nothing_written(call: Caller, arns: Any) -> None:
    alice = Principal(
        kind="user",
        arn=arns.user("alice"),
        account="123456789012",
        user_id="AIDAEXAMPLEEXAMPLE001",
        name="alice",
        identity_arn=arns.user("alice"),
    )
    with pytest.raises(AccessDenied) as info:
        call(OPS["CreateOpenIDConnectProvider"], Url="https://idp.example", principal=alice)
    assert "iam:CreateOpenIDConnectProvider on resource: " + ARN + "idp.example" in info.value.message
    assert call(OPS["ListOpenIDConnectProviders"]) == {"OpenIDConnectProviderList": []}


def test_changes_bump_the_providers_counter(call: Caller, store: SqlStore) -> None:
    arn = create(call)
    call(OPS["AddClientIDToOpenIDConnectProvider"], OpenIDConnectProviderArn=arn, ClientID="b")
    call(OPS["DeleteOpenIDConnectProvider"], OpenIDConnectProviderArn=arn)
    with store.transaction() as tx:
        assert tx.security.counter("providers") == 3
