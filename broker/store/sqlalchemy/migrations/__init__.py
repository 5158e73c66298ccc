"""Alembic environment for broker's store (run through :mod:`broker.store.sqlalchemy.migrate`)."""
