"""Keyring: the SAML SP key pair (purpose ``saml-sp``) and its public certificate (``keyring_keys.certificate``).

The SP key (RSA-3072, sealed by the master key like every keyring key) moves from a sealed file in
``BROKER_HOME`` into the store, so every node sharing the store publishes the same certificate and decrypts
what an IdP encrypted to it. ``certificate`` is nullable: the other purposes have none.

Revision ID: 0003_keyring_saml_sp
Revises: 0002_oidc_pinned_jwks
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_keyring_saml_sp"
down_revision: str | Sequence[str] | None = "0002_oidc_pinned_jwks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("keyring_keys") as batch:
        batch.drop_constraint(op.f("ck_keyring_keys_purpose"), type_="check")
        batch.create_check_constraint(
            op.f("ck_keyring_keys_purpose"), "purpose IN ('session-token', 'jwt-signing', 'saml-sp')"
        )
        batch.add_column(sa.Column("certificate", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM keyring_keys WHERE purpose = 'saml-sp'")
    with op.batch_alter_table("keyring_keys") as batch:
        batch.drop_column("certificate")
        batch.drop_constraint(op.f("ck_keyring_keys_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_keyring_keys_purpose"), "purpose IN ('session-token', 'jwt-signing')")
