"""BROKER_SAML_RESPONSE_SIGNED_PROVIDERS: parsing, the per-provider validator choice, and the app wiring.

The setting names the SAML providers (names or ARNs of this account) whose Response signature is accepted as
covering an unsigned assertion. Empty by default; no wildcard; every other provider keeps the strict validator;
broker's SP metadata keeps ``WantAssertionsSigned="true"`` either way.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from broker.api.app import build_broker, create_app
from broker.clock import FixedClock
from broker.config import Settings
from broker.federation.saml.errors import SamlError
from broker.service.saml_session import SamlSp
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base
from broker.store.sqlalchemy.store import SqlStore

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "federation" / "saml"))
from saml_factory import NOW, SP, signed, trust

ACCOUNT = "123456789012"
ENV = "BROKER_SAML_RESPONSE_SIGNED_PROVIDERS"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKER_CONFIG", ENV, "BROKER_ACCOUNT_ID", "BROKER_PARTITION"):
        monkeypatch.delenv(name, raising=False)


def _settings(monkeypatch: pytest.MonkeyPatch, value: str, **kwargs: Any) -> Settings:
    monkeypatch.setenv(ENV, value)
    return Settings(account_id=ACCOUNT, **kwargs)


# --- parsing -----------------------------------------------------------------------------------------


def test_empty_by_default() -> None:
    settings = Settings(account_id=ACCOUNT)
    assert settings.saml_response_signed_providers == ()
    assert settings.saml_response_signed_provider_names == frozenset()


def test_comma_separated_names_and_arns(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, f" okta-corp, arn:aws:iam::{ACCOUNT}:saml-provider/Keycloak_1.x ,okta-corp,, ")
    assert settings.saml_response_signed_providers == (
        "okta-corp", f"arn:aws:iam::{ACCOUNT}:saml-provider/Keycloak_1.x"
    )
    assert settings.saml_response_signed_provider_names == frozenset({"okta-corp", "Keycloak_1.x"})


def test_blank_value_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, " , ").saml_response_signed_providers == ()


def test_a_list_from_the_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text('broker_saml_response_signed_providers = ["pysaml2", "adfs"]\n', encoding="utf-8")
    monkeypatch.setenv("BROKER_CONFIG", str(path))
    assert Settings(account_id=ACCOUNT).saml_response_signed_provider_names == frozenset({"pysaml2", "adfs"})


@pytest.mark.parametrize("value", [
    "*",
    "okta,*",
    "two words",
    "a/b",
    "x" * 129,
    "arn:aws:iam::123456789012:oidc-provider/example.com",
    "arn:aws:iam::123456789012:saml-provider/",
    "arn:aws:iam::123456789012:saml-provider/a b",
])
def test_wildcards_and_malformed_entries_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match=ENV):
        _settings(monkeypatch, value)


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::210987654321:saml-provider/Corp",  # another account
    f"arn:aws-cn:iam::{ACCOUNT}:saml-provider/Corp",  # another partition
])
def test_an_arn_outside_this_account_is_refused(monkeypatch: pytest.MonkeyPatch, arn: str) -> None:
    with pytest.raises(ValidationError, match=f"not in partition aws account {ACCOUNT}"):
        _settings(monkeypatch, arn)


# --- the per-provider choice ---------------------------------------------------------------------------


def test_no_relaxed_validator_without_listed_providers() -> None:
    sp = SamlSp.build(SP, codec=None)
    assert sp.response_signed_validator is None
    assert sp.validator_for("anything") is sp.validator
    assert not sp.accepts_response_signature("anything")


def test_listed_providers_get_the_relaxed_validator_and_no_one_else() -> None:
    sp = SamlSp.build(SP, codec=None, response_signed_providers=["Corp"])
    relaxed = sp.validator_for("Corp")
    assert relaxed is sp.response_signed_validator and relaxed is not sp.validator
    assert relaxed.sp.want_assertions_signed is False
    assert sp.config.want_assertions_signed is True and sp.validator.sp.want_assertions_signed is True
    for other in ("corp", "Corp2", "", "Cor"):
        assert sp.validator_for(other) is sp.validator and not sp.accepts_response_signature(other)
    message = signed("response")
    assert relaxed.validate(message, idp=trust(), now=NOW).assertion_signed is False
    with pytest.raises(SamlError, match="the Assertion is not signed"):
        sp.validator_for("Other").validate(message, idp=trust(), now=NOW)


def test_the_relaxed_validator_differs_from_the_strict_one_only_in_that_flag() -> None:
    sp = SamlSp.build(SP, codec=None, response_signed_providers=["Corp"])
    assert sp.response_signed_validator is not None
    relaxed, strict = sp.response_signed_validator.sp, sp.validator.sp
    assert {n: getattr(relaxed, n) for n in relaxed.__slots__ if n != "want_assertions_signed"} == {
        n: getattr(strict, n) for n in strict.__slots__ if n != "want_assertions_signed"
    }


# --- the app ---------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    Base.metadata.create_all(engine)
    yield SqlStore(engine)
    engine.dispose()


def _app_settings(tmp_path: Path, providers: str) -> Settings:
    return Settings(home=tmp_path, account_id=ACCOUNT, public_url="https://broker.example.com",
                    master_key=SecretStr(base64.b64encode(bytes(32)).decode()),
                    saml_response_signed_providers=providers)


def test_build_broker_hands_the_listed_names_to_the_sp(tmp_path: Path, store: SqlStore) -> None:
    settings = _app_settings(tmp_path, f"pysaml2,arn:aws:iam::{ACCOUNT}:saml-provider/adfs")
    broker = build_broker(settings, clock=FixedClock(NOW), store=store)
    assert broker.saml_sp is not None
    assert broker.saml_sp.response_signed_providers == frozenset({"pysaml2", "adfs"})
    assert broker.saml_sp.validator_for("adfs") is broker.saml_sp.response_signed_validator


def test_sp_metadata_still_asks_for_signed_assertions(tmp_path: Path, store: SqlStore) -> None:
    app = create_app(_app_settings(tmp_path, "pysaml2"), clock=FixedClock(NOW), store=store)

    async def get() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            return (await c.get("/saml/metadata")).text

    body = asyncio.run(get())
    assert 'WantAssertionsSigned="true"' in body
