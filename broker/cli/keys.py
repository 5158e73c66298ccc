"""``broker keys list|rotate``: show the keyring (never key material) and rotate a purpose's key.

::

    broker keys list                              every key: purpose, id, state, times, fingerprint (JSON lines)
    broker keys rotate session-token|jwt-signing  a new active key at once; old keys keep verifying
    broker keys rotate saml-sp                    step 1: prepare the next SAML SP key (published, decrypting)
    broker keys rotate saml-sp --promote          step 2: the prepared key signs and comes first; the old one
                                                  is retired and decrypts for two more days

The SAML SP key (``saml-sp``, :mod:`broker.service.saml_sp_keys`) rotates in two steps because IdPs encrypt
to the certificate they read from ``GET /saml/metadata``: the next key is published and decrypting before it
becomes the active one (docs/saml/validation.md, "The SP key pair"). Rotation writes through the store;
running servers pick the change up through the ``keyring`` change counter (the keyring refresher, or the SAML
key reader's poll, within about five seconds). Key operations are not audit events (neither token-key nor SAML
SP key rotation); they are logged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from broker.credentials.keyring import KeyMaterial

__all__ = [
    "cmd_keys_list", "cmd_keys_rotate", "keyring_service", "register", "run_list", "run_rotate", "run_saml_rotate",
    "saml_sp_keys",
]

SAML_SP = "saml-sp"


def keyring_service(settings: Any) -> Any:
    """A :class:`~broker.service.keyring.KeyringService` over the configured store (caller disposes the store)."""
    from broker.bootstrap import load_master_key, open_store
    from broker.clock import SystemClock
    from broker.credentials.envelope import Envelope
    from broker.ids import SystemEntropy
    from broker.service.keyring import KeyringService

    store = open_store(settings)
    entropy = SystemEntropy()
    try:
        service = KeyringService(store, Envelope(load_master_key(settings, entropy), entropy), SystemClock(), entropy)
        service.ensure()
    except BaseException:
        store.dispose()
        raise
    return service


def saml_sp_keys(settings: Any, store: Any, envelope: Any, entropy: Any, clock: Any = None) -> Any:
    """The :class:`~broker.service.saml_sp_keys.StoreSpKeys` a server with ``settings`` uses (same store, same
    entity id, same ``BROKER_HOME`` for the earlier file key)."""
    from broker.clock import SystemClock
    from broker.federation.saml.config import sp_config
    from broker.service.saml_sp_keys import StoreSpKeys

    entity_id = sp_config(settings.effective_public_url, clock_skew_seconds=settings.clock_skew_seconds).entity_id
    return StoreSpKeys(store, envelope, clock or SystemClock(), entropy, entity_id=entity_id,
                       legacy_home=settings.home, poll_seconds=0)


def _settings(env: Mapping[str, str] | None = None) -> Any:
    from broker.config import Settings

    if env is None:
        return Settings()
    overrides: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = env.get(f"BROKER_{name.upper()}")
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def run_rotate(purpose: str, *, env: Mapping[str, str] | None = None, algorithm: str | None = None) -> KeyMaterial:
    service = keyring_service(_settings(env))
    try:
        key: KeyMaterial = service.rotate(purpose, algorithm=algorithm)
        return key
    finally:
        service.store.dispose()


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_list(settings: Any, out: TextIO | None = None, clock: Any = None) -> int:
    """One JSON object per key, token keys first, then ``saml-sp`` keys; the same fields on every line."""
    out = out or sys.stdout
    service = keyring_service(settings)
    try:
        for info in service.listing():
            print(json.dumps({
                "key_id": info.key_id, "purpose": info.purpose, "algorithm": info.algorithm, "state": info.state,
                "created_at": info.created_at.isoformat(), "activated_at": _when(info.activated_at),
                "retired_at": _when(info.retired_at), "fingerprint": info.fingerprint, "not_after": None,
            }), file=out)
        sp = saml_sp_keys(settings, service.store, service.envelope, service.entropy, clock)
        for key in sp.listing():
            print(json.dumps({
                "key_id": key.key_id, "purpose": key.purpose, "algorithm": key.algorithm, "state": key.state,
                "created_at": key.created_at.isoformat(), "activated_at": _when(key.activated_at),
                "retired_at": _when(key.retired_at), "fingerprint": key.fingerprint, "not_after": _when(key.not_after),
            }), file=out)
    finally:
        service.store.dispose()
    return 0


def run_saml_rotate(
    settings: Any, *, promote: bool, out: TextIO | None = None, err: TextIO | None = None, clock: Any = None
) -> int:
    """Step 1 (``promote=False``): prepare the next SAML SP key, or report the one already prepared. Step 2:
    promote the prepared key; exit status 1, nothing changed, when none is prepared."""
    from broker.bootstrap import load_master_key, open_store
    from broker.credentials.envelope import Envelope
    from broker.ids import SystemEntropy
    from broker.service.saml_sp_keys import RETIRED_GRACE, certificate_fingerprint

    out, err = out or sys.stdout, err or sys.stderr
    entropy = SystemEntropy()
    store = open_store(settings)
    try:
        keys = saml_sp_keys(settings, store, Envelope(load_master_key(settings, entropy), entropy), entropy, clock)
        if not promote:
            before = keys.next_key()
            key = keys.prepare_next()
            verb = "was already prepared" if before is not None and before.key_id == key.key_id else "is prepared"
            print(f"saml-sp key {key.key_id} {verb} as the next key (certificate SHA-256 "
                  f"{certificate_fingerprint(key.pair.certificate_der)}). Every node publishes it in "
                  "/saml/metadata as a second encryption certificate within seconds, and decrypts with it. Give it "
                  "to IdPs that import the SP certificate by hand, then run: broker keys rotate saml-sp --promote",
                  file=out)
            return 0
        previous = [k.key_id for k in keys.listing() if k.state == "active"]  # reads only: creates nothing
        try:
            key = keys.promote()
        except LookupError:
            print("broker keys rotate saml-sp --promote: no next key is prepared; run 'broker keys rotate saml-sp' "
                  "first, and publish its certificate to the IdPs before promoting it", file=err)
            return 1
        retired = (f"the previous key {previous[0]} is retired and decrypts for {RETIRED_GRACE.days} more days"
                   if previous else "there was no active key before")
        print(f"saml-sp key {key.key_id} is now active: it signs AuthnRequests and is the first encryption "
              f"certificate in /saml/metadata; {retired}.", file=out)
        return 0
    finally:
        store.dispose()


def cmd_keys_list(args: argparse.Namespace, out: TextIO | None = None) -> int:
    return run_list(_settings(), out)


def cmd_keys_rotate(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if args.purpose == SAML_SP:
        if args.algorithm is not None:
            print("broker keys rotate: --algorithm applies to jwt-signing keys only", file=err)
            return 2
        return run_saml_rotate(_settings(), promote=args.promote, out=out, err=err)
    if args.promote:
        print("broker keys rotate: --promote applies to saml-sp only (token keys rotate in one step)", file=err)
        return 2
    key = run_rotate(args.purpose, algorithm=args.algorithm)
    print(f"{key.purpose} key {key.key_id} ({key.algorithm}) is now active; older keys verify until they expire",
          file=out)
    return 0


def register(subparsers: Any) -> None:
    """Add ``keys list`` and ``keys rotate PURPOSE [--algorithm ALG] [--promote]`` to the ``broker`` parser."""
    parser = subparsers.add_parser("keys", help="list or rotate keyring keys")
    keys = parser.add_subparsers(dest="keys_cmd", required=True)
    p = keys.add_parser("list", help="list keyring keys (ids, purposes, states, fingerprints; never material)")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser(
        "rotate", help="token keys: a new active key now, old keys keep verifying; saml-sp: prepare, then --promote"
    )
    p.add_argument("purpose", choices=["session-token", "jwt-signing", SAML_SP])
    p.add_argument("--algorithm", default=None, choices=["ES256", "RS256", "EdDSA"], help="JWT signing keys only")
    p.add_argument("--promote", action="store_true",
                   help="saml-sp only: make the prepared next key the active one (retires the current key)")
    p.set_defaults(func=cmd_keys_rotate)
