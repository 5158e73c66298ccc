"""The SAML SP key pair in the store-backed keyring, on SQLite and PostgreSQL (issue 6, SP metadata).

Two brokers on one store publish the same certificate and each decrypts an assertion encrypted to the
other's metadata; two nodes starting together end with one key; a file key from earlier versions is
migrated; rotation publishes the next certificate before it signs; the token keyring never sees the key.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.federation.saml.config import sp_config
from broker.federation.saml.sp_keys import FILE_NAME, FileSpKeys, generate_sp_key_pair
from broker.federation.saml.sp_metadata import sp_metadata_xml
from broker.federation.saml.validate import IdpTrust, SamlValidator
from broker.service import saml_sp_keys
from broker.service.keyring import KeyringService
from broker.service.saml_sp_keys import RETIRED_GRACE, StoreSpKeys
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.store import SqlStore
from idp_fixtures.saml.keys import generate_key_pair
from idp_fixtures.saml.response import ResponseSpec, SignOptions, build_response, encode_response
from tests.contract.conftest import MASTER_KEY, SeededEntropy

SP = sp_config("https://broker.example.com")
IDP_ENTITY = "https://idp.example.org/saml"
IDP_KEY = generate_key_pair("sp-keys-idp")
IDP = IdpTrust(IDP_ENTITY, (x509.load_pem_x509_certificate(IDP_KEY.cert_pem).public_bytes(Encoding.DER),))
MD = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def node(store: SqlStore, clock: FixedClock, seed: int, home: Path | None = None) -> StoreSpKeys:
    """One broker node's view of the SP keys (its own entropy and, optionally, its own BROKER_HOME)."""
    entropy = SeededEntropy(seed)
    return StoreSpKeys(store, Envelope(MASTER_KEY, entropy), clock, entropy, entity_id=SP.entity_id,
                       legacy_home=home, poll_seconds=0)


def metadata_certificates(keys: StoreSpKeys, use: str) -> list[bytes]:
    """The certificates of ``use`` in the metadata the node publishes (GET /saml/metadata)."""
    xml = sp_metadata_xml(entity_id=SP.entity_id, acs_url=SP.acs_url,
                          signing_certificates=keys.signing_certificates(),
                          encryption_certificates=keys.encryption_certificates())
    root = etree.fromstring(xml.encode())
    path = f"md:SPSSODescriptor/md:KeyDescriptor[@use='{use}']/ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    return [base64.b64decode(e.text or "") for e in root.iterfind(path, MD)]


def encrypted_to(cert_der: bytes, clock: FixedClock, name: str = "enc-user") -> str:
    # an AttributeStatement, as every IdP sends for AssumeRoleWithSAML (python3-saml's cross-check requires one)
    spec = ResponseSpec(issuer=IDP_ENTITY, audience=SP.entity_id, acs_url=SP.acs_url, name_id=name, now=clock.now(),
                        attributes={"https://aws.amazon.com/SAML/Attributes/RoleSessionName": [name]})
    cert_pem = x509.load_der_x509_certificate(cert_der).public_bytes(Encoding.PEM)
    return encode_response(build_response(spec, SignOptions(key=IDP_KEY, sign="assertion",
                                                            encrypt_to_cert_pem=cert_pem)))


def decrypts(keys: StoreSpKeys, message: str, clock: FixedClock) -> bool:
    result = SamlValidator(SP, sp_private_keys=keys).validate(message, idp=IDP, now=clock.now())
    return result.encrypted


def saml_rows(store: SqlStore) -> list[Any]:
    with store.transaction() as tx:
        return tx.security.list_saml_sp_keys()


def test_two_brokers_publish_one_certificate_and_decrypt_each_others(
    store: SqlStore, clock: FixedClock, tmp_path: Path
) -> None:
    a = node(store, clock, 1, tmp_path / "a")
    b = node(store, clock, 2, tmp_path / "b")
    a.ensure()
    b.ensure()
    assert len(saml_rows(store)) == 1
    assert metadata_certificates(a, "encryption") == metadata_certificates(b, "encryption")
    assert metadata_certificates(a, "signing") == metadata_certificates(b, "signing")
    assert a.signing_key_pem() == b.signing_key_pem()
    assert decrypts(b, encrypted_to(metadata_certificates(a, "encryption")[0], clock), clock)
    assert decrypts(a, encrypted_to(metadata_certificates(b, "encryption")[0], clock), clock)


def test_the_key_is_sealed_in_the_store(store: SqlStore, clock: FixedClock) -> None:
    keys = node(store, clock, 1)
    key = keys.ensure()
    (row,) = saml_rows(store)
    assert row.algorithm == "RSA-3072" and row.certificate == key.pair.certificate_der
    assert b"PRIVATE KEY" not in row.sealed_key
    assert key.pair.private_key_pem not in row.sealed_key
    assert "PRIVATE" not in repr(row) and "PRIVATE" not in repr(key) and "PRIVATE" not in repr(keys)


def _second_store(store: SqlStore) -> SqlStore:
    return SqlStore(make_engine(store.engine.url.render_as_string(hide_password=False)))


@pytest.fixture
def racing(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Barrier]:
    """Both nodes generate their key before either inserts (the race ``ensure`` must survive)."""
    barrier = threading.Barrier(2, timeout=30)
    real = generate_sp_key_pair

    def generate(entity_id: str, now: Any) -> Any:
        pair = real(entity_id, now)
        barrier.wait()
        return pair

    monkeypatch.setattr(saml_sp_keys, "generate_sp_key_pair", generate)
    yield barrier


def test_two_nodes_starting_together_end_with_one_key(
    store: SqlStore, clock: FixedClock, racing: threading.Barrier
) -> None:
    other = _second_store(store)
    try:
        nodes = [node(store, clock, 1), node(other, clock, 2)]
        errors: list[BaseException] = []

        def start(keys: StoreSpKeys) -> None:
            try:
                keys.ensure()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(saml_rows(store)) == 1
        assert nodes[0].signing_certificates() == nodes[1].signing_certificates()
    finally:
        other.dispose()


def test_a_file_key_from_an_earlier_version_is_migrated(store: SqlStore, clock: FixedClock, tmp_path: Path) -> None:
    old = FileSpKeys(tmp_path, Envelope(MASTER_KEY, SeededEntropy(9)), SP.entity_id, clock.now()).pair()
    keys = node(store, clock, 1, tmp_path)
    assert keys.ensure().pair.certificate_der == old.certificate_der
    assert not (tmp_path / FILE_NAME).exists() and (tmp_path / (FILE_NAME + ".migrated")).exists()
    # an assertion an IdP encrypted to the old file's certificate still decrypts, on any node
    assert decrypts(node(store, clock, 2), encrypted_to(old.certificate_der, clock), clock)
    keys.ensure()
    assert len(saml_rows(store)) == 1


def test_a_second_nodes_different_file_key_is_kept_retired(store: SqlStore, clock: FixedClock, tmp_path: Path) -> None:
    a = node(store, clock, 1, tmp_path / "a")
    a.ensure()
    stray = FileSpKeys(tmp_path / "b", Envelope(MASTER_KEY, SeededEntropy(8)), SP.entity_id, clock.now()).pair()
    b = node(store, clock, 2, tmp_path / "b")
    b.ensure()
    assert metadata_certificates(b, "encryption") == metadata_certificates(a, "encryption")
    assert stray.certificate_der not in metadata_certificates(b, "encryption")
    assert decrypts(a, encrypted_to(stray.certificate_der, clock), clock)  # in-flight assertions still work
    clock.advance(RETIRED_GRACE.total_seconds())
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypts(a, encrypted_to(stray.certificate_der, clock), clock)
    b.ensure()  # the file was renamed: not imported again
    assert len(saml_rows(store)) == 2


def test_rotation_publishes_the_next_certificate_first(store: SqlStore, clock: FixedClock) -> None:
    a, b = node(store, clock, 1), node(store, clock, 2)
    first = a.ensure()
    b.ensure()
    following = a.prepare_next()
    assert metadata_certificates(b, "encryption") == [first.pair.certificate_der, following.pair.certificate_der]
    assert metadata_certificates(b, "signing") == [first.pair.certificate_der]
    assert decrypts(b, encrypted_to(following.pair.certificate_der, clock), clock)
    clock.advance(60)
    assert a.rotate().key_id == following.key_id
    assert metadata_certificates(b, "signing") == [following.pair.certificate_der]
    assert metadata_certificates(b, "encryption") == [following.pair.certificate_der]
    assert decrypts(b, encrypted_to(first.pair.certificate_der, clock), clock)  # retired, still decrypts
    clock.advance(RETIRED_GRACE.total_seconds())
    a.rotate()
    assert first.key_id not in {r.key_id for r in saml_rows(store)}  # purged after the grace period


def test_a_node_with_another_master_key_fails_closed(store: SqlStore, clock: FixedClock) -> None:
    node(store, clock, 1).ensure()
    entropy = SeededEntropy(3)
    stranger = StoreSpKeys(store, Envelope(bytes(32), entropy), clock, entropy, entity_id=SP.entity_id)
    with pytest.raises(LookupError):
        stranger.ensure()
    assert stranger() == ()
    assert len(saml_rows(store)) == 1


def test_a_certificate_swapped_in_the_store_is_refused(store: SqlStore, clock: FixedClock) -> None:
    keys = node(store, clock, 1)
    kid = keys.ensure().key_id
    other = generate_sp_key_pair(SP.entity_id, clock.now())
    from broker.store.sqlalchemy.models.security import KeyringKeyRow

    with store.transaction() as tx:
        row = tx.security.session.get(KeyringKeyRow, kid)
        assert row is not None
        row.certificate = other.certificate_der
    with pytest.raises(LookupError):
        node(store, clock, 2).current()


def test_the_token_keyring_does_not_see_the_sp_key(store: SqlStore, clock: FixedClock) -> None:
    entropy = SeededEntropy(5)
    keyring = KeyringService(store, Envelope(MASTER_KEY, entropy), clock, entropy)
    keyring.ensure()
    node(store, clock, 1).ensure()
    loaded = keyring.load()
    assert {k.purpose for k in loaded.keys} == {"session-token", "jwt-signing"}
    assert len(keyring.keyring.jwks()["keys"]) == 1
    clock.advance(timedelta(days=40).total_seconds())
    keyring.maybe_rotate()  # rotation and purge of token keys leave the SP key alone
    assert len(saml_rows(store)) == 1
    with store.transaction() as tx:
        assert {r.purpose for r in tx.security.list_keys()} == {"session-token", "jwt-signing"}
        assert tx.security.get_key(saml_rows(store)[0].key_id) is None


def test_the_first_reader_creates_the_key_lazily(store: SqlStore, clock: FixedClock) -> None:
    keys = node(store, clock, 1)
    assert saml_rows(store) == []  # constructing a node does nothing
    (cert,) = keys.signing_certificates()
    assert [r.certificate for r in saml_rows(store)] == [cert]


def test_a_node_whose_clock_runs_behind_uses_the_key_and_makes_no_second_one(
    store: SqlStore, clock: FixedClock
) -> None:
    ahead = node(store, clock, 1)
    ahead.ensure()
    behind_clock = FixedClock(clock.now() - timedelta(seconds=90))
    behind = node(store, behind_clock, 2)
    assert behind.signing_certificates() == ahead.signing_certificates()
    assert len(saml_rows(store)) == 1
    following = ahead.prepare_next()
    ahead.rotate()
    assert behind.signing_certificates() == (following.pair.certificate_der,)
