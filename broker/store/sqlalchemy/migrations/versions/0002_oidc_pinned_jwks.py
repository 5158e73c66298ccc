"""OIDC providers: an optional administrator-pinned JWK Set (``oidc_providers.pinned_jwks``).

A provider with a pinned JWKS verifies tokens with those keys and never fetches discovery or JWKS (issuers
without public discovery: air-gapped IdPs, Kubernetes clusters). Nullable, so existing rows keep fetching.

Revision ID: 0002_oidc_pinned_jwks
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_oidc_pinned_jwks"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_providers") as batch:
        batch.add_column(sa.Column("pinned_jwks", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_providers") as batch:
        batch.drop_column("pinned_jwks")
