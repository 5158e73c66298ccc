"""Encrypted assertions decrypted with broker's SP key; the SP key pair sealed at rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from saml_factory import NOW, SP, b64, idp_key, spec, trust

from broker.credentials.envelope import Envelope
from broker.federation.saml.errors import SamlError
from broker.federation.saml.sp_keys import FileSpKeys, generate_sp_key_pair, open_sp_key_pair, seal_sp_key_pair
from broker.federation.saml.validate import SamlValidator
from idp_fixtures.saml.response import SignOptions, build_response


class _Entropy:
    def token_bytes(self, n: int) -> bytes:
        return bytes(n)


ENVELOPE = Envelope(bytes(range(32)), _Entropy())
PAIR = generate_sp_key_pair(SP.entity_id, NOW)


def _cert_pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def _encrypted(sign: str = "assertion", algorithm: str = "aes256-gcm") -> str:
    options = SignOptions(key=idp_key(), sign=sign, encrypt_to_cert_pem=_cert_pem(PAIR.certificate_der),  # type: ignore[arg-type]
                          encryption_algorithm=algorithm)
    return b64(build_response(spec(name_id="enc-user"), options))


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-cbc"])
def test_encrypted_signed_assertion_is_decrypted_and_validated(algorithm: str) -> None:
    result = SamlValidator(SP, sp_private_keys=lambda: (PAIR.private_key_pem,)).validate(
        _encrypted(algorithm=algorithm), idp=trust(), now=NOW)
    assert (result.name_id, result.encrypted, result.assertion_signed) == ("enc-user", True, True)


def test_encrypted_assertion_signed_only_by_the_response_is_refused() -> None:
    with pytest.raises(SamlError) as info:
        SamlValidator(SP, sp_private_keys=lambda: (PAIR.private_key_pem,)).validate(
            _encrypted("response"), idp=trust(), now=NOW)
    assert info.value.problems == ["the Assertion is not signed (broker requires signed assertions)"]


def test_encrypted_assertion_without_an_sp_key_is_refused() -> None:
    with pytest.raises(SamlError) as info:
        SamlValidator(SP).validate(_encrypted(), idp=trust(), now=NOW)
    assert info.value.problems == ["the assertion is encrypted but broker has no SAML SP key"]


def test_encrypted_to_another_key_is_refused() -> None:
    other = generate_sp_key_pair(SP.entity_id, NOW)
    with pytest.raises(SamlError) as info:
        SamlValidator(SP, sp_private_keys=lambda: (other.private_key_pem,)).validate(_encrypted(), idp=trust(), now=NOW)
    assert info.value.problems == ["the EncryptedAssertion cannot be decrypted with broker's SP key"]


def test_sp_key_pair_is_sealed_at_rest_and_reloaded(tmp_path: Path) -> None:
    blob = seal_sp_key_pair(PAIR, ENVELOPE)
    assert PAIR.private_key_pem not in blob and open_sp_key_pair(blob, ENVELOPE) == PAIR
    assert "PRIVATE" not in repr(PAIR)
    first = FileSpKeys(tmp_path, ENVELOPE, SP.entity_id, NOW)
    again = FileSpKeys(tmp_path, ENVELOPE, SP.entity_id, NOW)
    assert first.signing_certificates() == again.encryption_certificates()
    assert first() == again() == (first.signing_key_pem(),)
    assert (tmp_path / "saml-sp-key.sealed").stat().st_mode & 0o777 == 0o600
