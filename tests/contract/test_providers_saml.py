"""SAML provider operations on both engines: metadata checked, shapes, duplicates, tags."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from broker.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from broker.service.providers import OPERATIONS, ProviderSettings, make_operations
from broker.store.sqlalchemy.store import SqlStore


def _fixtures() -> ModuleType:
    name = "saml_metadata_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "unit" / "federation" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fx = _fixtures()
Caller = Callable[..., dict[str, Any]]
OPS = OPERATIONS
ARN = "arn:aws:iam::123456789012:saml-provider/"


def padded(document: str) -> str:
    """Metadata of at least 1,000 characters, the model's minimum (a comment pads it)."""
    return document + "<!--" + "x" * max(0, 1000 - len(document)) + "-->"


def create(call: Caller, name: str = "Okta", **kw: Any) -> str:
    kw.setdefault("SAMLMetadataDocument", padded(fx.metadata()))
    return str(call(OPS["CreateSAMLProvider"], Name=name, **kw)["SAMLProviderArn"])


def test_create_get_list_update_delete(call: Caller, store: SqlStore) -> None:
    doc = padded(fx.metadata())
    arn = create(call, SAMLMetadataDocument=doc)
    assert arn == ARN + "Okta"
    got = call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)
    assert got == {
        "SAMLMetadataDocument": doc,
        "CreateDate": datetime(2026, 1, 1, 12, tzinfo=UTC),
        "ValidUntil": datetime(2030, 1, 1, tzinfo=UTC),
    }
    listed = call(OPS["ListSAMLProviders"])["SAMLProviderList"]
    assert listed == [{"Arn": arn, "CreateDate": got["CreateDate"], "ValidUntil": got["ValidUntil"]}]
    with store.transaction() as tx:
        rec = tx.providers.get_saml_by_name("Okta")
        assert rec is not None and rec.entity_id == fx.ENTITY_ID
        assert rec.signing_certificates == (fx.b64(fx.rsa_cert()),)

    rolled = padded(
        fx.metadata(
            fx.key_descriptor(fx.b64(fx.rsa_cert())),
            fx.key_descriptor(fx.b64(fx.rsa_cert(2048, "next"))),
            valid_until=None,
            entity_id="https://idp.example.org/new",
        )
    )
    assert call(OPS["UpdateSAMLProvider"], SAMLProviderArn=arn, SAMLMetadataDocument=rolled) == {
        "SAMLProviderArn": arn
    }
    got = call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == rolled and "ValidUntil" not in got
    with store.transaction() as tx:
        rec = tx.providers.get_saml(arn)
        assert rec is not None and rec.entity_id == "https://idp.example.org/new"
        assert len(rec.signing_certificates) == 2
    assert call(OPS["DeleteSAMLProvider"], SAMLProviderArn=arn) == {}
    assert call(OPS["ListSAMLProviders"]) == {"SAMLProviderList": []}
    with pytest.raises(NoSuchEntity):
        call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)


def test_duplicate_name(call: Caller) -> None:
    create(call)
    with pytest.raises(EntityAlreadyExists) as info:
        create(call)
    assert info.value.message == "SAMLProvider Okta already exists."


def test_bad_metadata_is_invalid_input_with_reasons_and_nothing_stored(call: Caller) -> None:
    doc = padded(fx.metadata(fx.key_descriptor(fx.b64(fx.rsa_cert(1024)))))
    with pytest.raises(InvalidInput) as info:
        create(call, SAMLMetadataDocument=doc)
    assert info.value.message == (
        "Could not parse metadata: KeyDescriptor 1 certificate 1: RSA key of 1024 bits is too small "
        "(at least 2048 required)"
    )
    assert call(OPS["ListSAMLProviders"]) == {"SAMLProviderList": []}


def test_xxe_metadata_refused(call: Caller) -> None:
    doc = padded(fx.metadata(prolog='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'))
    with pytest.raises(InvalidInput) as info:
        create(call, SAMLMetadataDocument=doc)
    assert info.value.message == (
        "Could not parse metadata: DOCTYPE and ENTITY declarations are not allowed in SAML metadata"
    )


def test_expired_metadata_refused(call: Caller) -> None:
    with pytest.raises(InvalidInput) as info:
        create(call, SAMLMetadataDocument=padded(fx.metadata(valid_until="2025-06-01T00:00:00Z")))
    assert info.value.message == (
        "Could not parse metadata: the metadata expired at 2025-06-01T00:00:00+00:00 (validUntil)"
    )


def test_bad_update_keeps_the_old_document(call: Caller) -> None:
    doc = padded(fx.metadata())
    arn = create(call, SAMLMetadataDocument=doc)
    with pytest.raises(InvalidInput):
        call(OPS["UpdateSAMLProvider"], SAMLProviderArn=arn, SAMLMetadataDocument=padded("<broken"))
    assert call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)["SAMLMetadataDocument"] == doc


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("AddPrivateKey", "-----BEGIN PRIVATE KEY-----"),
        ("AssertionEncryptionMode", "Required"),
        ("ContextProvider", {"SubjectSourceKey": "sub"}),
    ],
)
def test_unsupported_members_are_refused_not_ignored(call: Caller, member: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        create(call, **{member: value})
    assert "BEGIN PRIVATE KEY" not in info.value.message
    assert info.value.message.endswith("is not supported by this broker.")


def test_quota(call: Caller) -> None:
    ops = make_operations(ProviderSettings(max_saml_providers=1))
    call(ops["CreateSAMLProvider"], Name="a", SAMLMetadataDocument=padded(fx.metadata()))
    with pytest.raises(LimitExceeded):
        call(ops["CreateSAMLProvider"], Name="b", SAMLMetadataDocument=padded(fx.metadata()))


def test_tags(call: Caller) -> None:
    arn = create(call, Tags=[{"Key": "a", "Value": "1"}])
    assert call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    call(OPS["TagSAMLProvider"], SAMLProviderArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "3"}])
    assert call(OPS["ListSAMLProviderTags"], SAMLProviderArn=arn) == {
        "Tags": [{"Key": "A", "Value": "3"}, {"Key": "b", "Value": "2"}],
        "IsTruncated": False,
    }
    call(OPS["UntagSAMLProvider"], SAMLProviderArn=arn, TagKeys=["B"])
    assert call(OPS["GetSAMLProvider"], SAMLProviderArn=arn)["Tags"] == [{"Key": "A", "Value": "3"}]
    with pytest.raises(NoSuchEntity):
        call(OPS["TagSAMLProvider"], SAMLProviderArn=ARN + "nope", Tags=[{"Key": "b", "Value": "2"}])
