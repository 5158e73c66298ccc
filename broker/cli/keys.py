"""``broker keys list|rotate``: show the keyring (never key material) and rotate a purpose's key.

The lead wires it into ``broker/cli/main.py`` with one line: ``keys.register(sub)``. Rotation writes
through the store; running servers pick the new key up through their keyring refresher (or at once
when they meet its key id in a token).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from broker.credentials.keyring import KeyMaterial

__all__ = ["cmd_keys_list", "cmd_keys_rotate", "keyring_service", "register", "run_rotate"]


def keyring_service(settings: Any) -> Any:
    """A :class:`~broker.service.keyring.KeyringService` over the configured store (caller disposes the store)."""
    from broker.bootstrap import load_master_key, open_store
    from broker.clock import SystemClock
    from broker.credentials.envelope import Envelope
    from broker.ids import SystemEntropy
    from broker.service.keyring import KeyringService

    store = open_store(settings)
    entropy = SystemEntropy()
    service = KeyringService(store, Envelope(load_master_key(settings, entropy), entropy), SystemClock(), entropy)
    service.ensure()
    return service


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


def cmd_keys_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    service = keyring_service(_settings())
    try:
        for info in service.listing():
            print(json.dumps({
                "key_id": info.key_id, "purpose": info.purpose, "algorithm": info.algorithm, "state": info.state,
                "created_at": info.created_at.isoformat(),
                "activated_at": info.activated_at.isoformat() if info.activated_at else None,
                "retired_at": info.retired_at.isoformat() if info.retired_at else None,
                "fingerprint": info.fingerprint,
            }), file=out)
    finally:
        service.store.dispose()
    return 0


def cmd_keys_rotate(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    key = run_rotate(args.purpose, algorithm=args.algorithm)
    print(f"{key.purpose} key {key.key_id} ({key.algorithm}) is now active; older keys verify until they expire",
          file=out)
    return 0


def register(subparsers: Any) -> None:
    """Add ``keys list`` and ``keys rotate PURPOSE [--algorithm ALG]`` to the ``broker`` parser."""
    parser = subparsers.add_parser("keys", help="list or rotate keyring keys")
    keys = parser.add_subparsers(dest="keys_cmd", required=True)
    p = keys.add_parser("list", help="list keyring keys (ids, purposes, states; never material)")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("rotate", help="make a new key active for new tokens; old keys keep verifying")
    p.add_argument("purpose", choices=["session-token", "jwt-signing"])
    p.add_argument("--algorithm", default=None, choices=["ES256", "RS256", "EdDSA"], help="JWT signing keys only")
    p.set_defaults(func=cmd_keys_rotate)
