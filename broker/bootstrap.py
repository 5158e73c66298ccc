"""Turning settings into running parts: the home folder, the master key, the store, root credentials.

This is an adapter (it touches the file system and the database); the CLI and ``create_app`` share it.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.ids import Entropy, SystemEntropy, access_key_id, secret_access_key
from broker.service.ports import Store

if TYPE_CHECKING:
    from broker.store.sqlalchemy.store import SqlStore

__all__ = ["BootstrapError", "RootCredentials", "ensure_home", "load_master_key", "open_store", "seed_root"]


class BootstrapError(RuntimeError):
    """Settings that cannot be turned into a running broker; the message says what to fix."""


@dataclass(frozen=True)
class RootCredentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"RootCredentials(access_key_id={self.access_key_id!r}, secret_access_key=**********)"


def ensure_home(settings: Settings) -> Path:
    """Create ``BROKER_HOME`` (mode 0700) if needed and return it."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, stat.S_IRWXU)
    return home


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BootstrapError(f"{origin} is not valid base64") from exc
    if len(key) != 32:
        raise BootstrapError(f"{origin} must decode to 32 bytes, not {len(key)}")
    return key


def load_master_key(settings: Settings, entropy: Entropy | None = None) -> bytes:
    """``BROKER_MASTER_KEY`` (base64 or ``file:PATH``), else ``BROKER_HOME/master.key`` (created 0600)."""
    if settings.master_key is not None:
        value = settings.master_key.get_secret_value()
        if value.startswith("file:"):
            path = Path(value[5:])
            return _decode_key(path.read_text(encoding="ascii"), f"BROKER_MASTER_KEY file {path}")
        return _decode_key(value, "BROKER_MASTER_KEY")
    path = ensure_home(settings) / "master.key"
    if path.exists():
        return _decode_key(path.read_text(encoding="ascii"), str(path))
    key = (entropy or SystemEntropy()).token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(key).decode("ascii") + "\n")
    return key


def open_store(settings: Settings, *, migrate: bool = True) -> SqlStore:
    """Open the configured store, applying migrations first when ``migrate`` is set."""
    from broker.store.sqlalchemy.engine import make_engine
    from broker.store.sqlalchemy.store import SqlStore

    if settings.database_url is None:
        ensure_home(settings)
    engine = make_engine(settings.effective_database_url)
    if migrate:
        from broker.store.sqlalchemy.migrate import upgrade

        upgrade(engine)
    return SqlStore(engine)


def seed_root(
    settings: Settings, store: Store, envelope: Envelope, now: datetime, entropy: Entropy | None = None
) -> RootCredentials | None:
    """Give root an access key when it has none.

    Uses ``BROKER_ROOT_ACCESS_KEY_ID``/``BROKER_ROOT_SECRET_ACCESS_KEY`` when set, else generates a pair.
    Returns the pair only when it was generated here (to be printed once); ``None`` otherwise.
    """
    entropy = entropy or SystemEntropy()
    with store.transaction() as tx:
        # Nodes starting together on one store: the counter's row lock (held until commit) makes the second
        # wait, then see the first one's key instead of inserting the same configured key id again.
        tx.security.bump("bootstrap")
        if tx.iam.list_access_keys(None):
            if settings.root_access_key_id is not None and tx.iam.find_access_key(settings.root_access_key_id) is None:
                raise BootstrapError(
                    "BROKER_ROOT_ACCESS_KEY_ID does not match root's existing access key; "
                    "unset it or manage root keys with the IAM API"
                )
            return None
        if settings.root_access_key_id is not None and settings.root_secret_access_key is not None:
            akid, generated = settings.root_access_key_id, False
            secret = settings.root_secret_access_key.get_secret_value()
        else:
            akid, secret, generated = access_key_id(entropy), secret_access_key(entropy), True
        blob = envelope.seal(secret.encode(), aad=f"access-key:{akid}".encode())
        tx.iam.seed_root_access_key(akid, blob, now)
    return RootCredentials(akid, secret) if generated else None
