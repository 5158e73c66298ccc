"""The SQLAlchemy store: a session per transaction, repositories hung off a unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from broker.store.sqlalchemy.checkpoint import WalCheckpointer
    from broker.store.sqlalchemy.repositories.audit import AuditRepository, SingleStatementAppend, WaitFreeAppend
    from broker.store.sqlalchemy.repositories.iam import IamRepository
    from broker.store.sqlalchemy.repositories.providers import ProviderRepository
    from broker.store.sqlalchemy.repositories.security import SecurityRepository

__all__ = ["SqlStore", "SqlUnitOfWork"]


class SqlUnitOfWork:
    """One transaction; each repository shares its session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @cached_property
    def iam(self) -> IamRepository:
        from broker.store.sqlalchemy.repositories.iam import IamRepository

        return IamRepository(self.session)

    @cached_property
    def providers(self) -> ProviderRepository:
        from broker.store.sqlalchemy.repositories.providers import ProviderRepository

        return ProviderRepository(self.session)

    @cached_property
    def security(self) -> SecurityRepository:
        from broker.store.sqlalchemy.repositories.security import SecurityRepository

        return SecurityRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        from broker.store.sqlalchemy.repositories.audit import AuditRepository

        return AuditRepository(self.session)


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._checkpointer: WalCheckpointer | None = None
        self._append: SingleStatementAppend | None = None
        """The audit writer's one-statement batch for the drivers that have it (issue 5)."""
        self._append_now: WaitFreeAppend | None = None
        """The same batch for a caller that must not wait (SQLite only; :meth:`append_audit_now`)."""
        from broker.store.sqlalchemy.repositories.audit import SingleStatementAppend, WaitFreeAppend

        if engine.dialect.driver in SingleStatementAppend.drivers:
            self._append = append = SingleStatementAppend(engine)
            from broker.store.sqlalchemy.checkpoint import sqlite_file

            path = sqlite_file(engine)
            if path is not None:
                self._append_now = WaitFreeAppend(append, path)

    @contextmanager
    def transaction(self) -> Iterator[SqlUnitOfWork]:
        session = self._sessions()
        try:
            yield SqlUnitOfWork(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Store ``events`` in one transaction of their own (the audit writer's batches; issue 5)."""
        if self._append is not None and self._append(events):
            return
        from broker.store.sqlalchemy.repositories.audit import append_events

        with self.engine.begin() as connection:
            append_events(connection, events)

    def append_audit_now(self, events: Sequence[Mapping[str, Any]]) -> bool:
        """Store ``events`` in one transaction of their own if that needs no waiting (issue 5): ``True`` once
        they are committed, ``False`` (nothing stored) when it would have to wait for a lock, a checkpoint or
        the network, so the caller (the audit writer, on the event loop) hands them to a thread instead.

        Only a SQLite file whose WAL is checkpointed by this store's running :class:`WalCheckpointer` qualifies:
        there a commit appends to the WAL without syncing (``synchronous=NORMAL``) and never checkpoints, and
        :class:`WaitFreeAppend` does not wait for the write lock. PostgreSQL always answers ``False`` (every
        commit is a round trip and a WAL flush on the server). Raises on other errors, with nothing stored."""
        checkpointer = self._checkpointer
        if self._append_now is None or checkpointer is None or checkpointer.commits_checkpoint:
            return False
        return self._append_now(events)

    def wal_checkpointer(self) -> WalCheckpointer | None:
        """The store's background WAL checkpointer (one per store; started by ``broker serve``), or ``None``
        when the store is not a SQLite file (``store/sqlalchemy/checkpoint.py``)."""
        if self._checkpointer is None:
            from broker.store.sqlalchemy.checkpoint import WalCheckpointer, sqlite_file

            if sqlite_file(self.engine) is None:
                return None
            self._checkpointer = WalCheckpointer(self.engine)
        return self._checkpointer

    def dispose(self) -> None:
        if self._append is not None:
            self._append.close()
        if self._append_now is not None:
            self._append_now.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
