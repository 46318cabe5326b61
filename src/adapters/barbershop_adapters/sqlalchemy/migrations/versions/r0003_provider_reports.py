"""Providers' delivery reports and the fallback chain: notifications found by their provider
message id, reports kept until the send they name is recorded, and a notification's
pending fallback step.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client_notifications") as table:
        table.add_column(sa.Column("fallback_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "ix_client_notifications_channel_provider_message_id",
        "client_notifications",
        ["channel", "provider_message_id"],
    )
    op.create_index("ix_client_notifications_fallback_pending", "client_notifications", ["fallback_pending"])
    op.create_table(
        "provider_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_reports"),
    )
    op.create_index(
        "ix_provider_reports_channel_provider_message_id_status",
        "provider_reports",
        ["channel", "provider_message_id", "status"],
        unique=True,
    )
    op.create_index("ix_provider_reports_received_at", "provider_reports", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_provider_reports_received_at", table_name="provider_reports")
    op.drop_index("ix_provider_reports_channel_provider_message_id_status", table_name="provider_reports")
    op.drop_table("provider_reports")
    op.drop_index("ix_client_notifications_fallback_pending", table_name="client_notifications")
    op.drop_index("ix_client_notifications_channel_provider_message_id", table_name="client_notifications")
    with op.batch_alter_table("client_notifications") as table:
        table.drop_column("fallback_pending")
