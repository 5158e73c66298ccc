"""SQLAlchemy models. Import every model module here so ``Base.metadata`` is complete."""

from broker.store.sqlalchemy.models import audit, iam, providers, security  # noqa: F401  (register tables)
from broker.store.sqlalchemy.models.base import Base

__all__ = ["Base"]
