"""The audit log: one CloudTrail-shaped event per request (SPEC.md §3.5).

The whole event is kept as JSON; the columns beside it are the ones queries filter on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.sqlalchemy.models.base import Base, UtcDateTime

__all__ = ["AuditEventRow"]


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_event_time", "event_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_time: Mapped[datetime] = mapped_column(UtcDateTime)
    event_source: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(128), index=True)
    principal_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    error_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
