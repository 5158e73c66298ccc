"""Contract-suite fixtures: the same tests run against SQLite and PostgreSQL.

``store`` is parametrized over both engines. SQLite gets a fresh temp file per test; PostgreSQL gets a
fresh schema per test (``CREATE SCHEMA`` + ``search_path`` via the libpq ``options`` connect parameter),
dropped afterwards. Set ``BROKER_TEST_SKIP_POSTGRES=1`` to skip the PostgreSQL half.

``env`` is an :class:`OpEnv` for the root user inside one open transaction (committed when the test
ends). ``call`` runs one operation the way the dispatcher does: its own transaction, committed on
success and rolled back on error, so tests can assert that nothing was written by a refused call.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.principal import CallContext, Principal
from broker.service.env import OpEnv, OpFunc
from broker.service.ports import RootOnlyAuthorizer
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base
from broker.store.sqlalchemy.store import SqlStore, SqlUnitOfWork

PG_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ACCOUNT = "123456789012"
MASTER_KEY = bytes(range(32))
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

_ENGINES = ["sqlite", "postgresql"]


class SeededEntropy:
    """Deterministic bytes for tests (never for production: ``random`` is not a CSPRNG)."""

    def __init__(self, seed: int = 1234) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


def _sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    Base.metadata.create_all(engine)
    store = SqlStore(engine)
    try:
        yield store
    finally:
        store.dispose()


def _postgres_store() -> Iterator[SqlStore]:
    if os.environ.get("BROKER_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("BROKER_TEST_SKIP_POSTGRES=1")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem, not a test result
        admin.dispose()
        pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}")
    Base.metadata.create_all(engine)
    store = SqlStore(engine)
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A fresh, empty store on each engine."""
    if request.param == "sqlite":
        yield from _sqlite_store(tmp_path)
    else:
        yield from _postgres_store()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    """A file-backed SQLite store alone, for tests of SQLite-only behaviour (WAL, checkpoints)."""
    yield from _sqlite_store(tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def arns() -> ArnFactory:
    return ArnFactory(account=ACCOUNT)


@pytest.fixture
def entropy() -> SeededEntropy:
    return SeededEntropy()


@pytest.fixture
def envelope(entropy: SeededEntropy) -> Envelope:
    return Envelope(MASTER_KEY, entropy)


@pytest.fixture
def root(arns: ArnFactory) -> Principal:
    return Principal(
        kind="root",
        arn=arns.root(),
        account=ACCOUNT,
        user_id=ACCOUNT,
        name="root",
        identity_arn=arns.root(),
        access_key_id="AKIAROOTROOTROOTROOT",
    )


EnvFactory = Callable[..., OpEnv]


@pytest.fixture
def make_env(
    clock: FixedClock, arns: ArnFactory, entropy: SeededEntropy, envelope: Envelope, root: Principal
) -> EnvFactory:
    """``make_env(tx, principal=root)``: an OpEnv over an open unit of work, at the clock's current time."""
    counter = iter(range(1, 1_000_000))

    def build(tx: SqlUnitOfWork, principal: Principal | None = root) -> OpEnv:
        call = CallContext(request_id=f"req-{next(counter)}", now=clock.now(), principal=principal)
        return OpEnv(tx=tx, call=call, authorizer=RootOnlyAuthorizer(), arns=arns, entropy=entropy, envelope=envelope)

    return build


@pytest.fixture
def env(store: SqlStore, make_env: EnvFactory) -> Iterator[OpEnv]:
    """An OpEnv for root inside one transaction, committed when the test ends normally."""
    with store.transaction() as tx:
        yield make_env(tx)


Caller = Callable[..., dict[str, Any]]


@pytest.fixture
def call(store: SqlStore, make_env: EnvFactory, root: Principal) -> Caller:
    """``call(op, params=None, principal=root, **params)``: run one operation in its own transaction."""

    def run(
        op: OpFunc, params: Mapping[str, Any] | None = None, *, principal: Principal | None = root, **kw: Any
    ) -> dict[str, Any]:
        merged = {**(params or {}), **kw}
        with store.transaction() as tx:
            return dict(op(make_env(tx, principal), merged))

    return run


@pytest.fixture
def iam(call: Caller) -> Caller:
    """``iam("CreateRole", RoleName=..., principal=...)``: run an IAM operation by its action name."""

    def run(action: str, params: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        from broker.service.iam import OPERATIONS

        return call(OPERATIONS[action], params, **kw)

    return run


def count_rows(store: SqlStore, table: str) -> int:
    """Rows in ``table`` (for "nothing was written" assertions)."""
    with store.transaction() as tx:
        return int(tx.session.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
