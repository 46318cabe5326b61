"""Managers' session version (a password change, logout or deactivation ends every session),
the brute-force counters of installations without Redis, and audit retention (purges).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("managers") as table:
        table.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "attempt_counts",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False, comment="Unix time"),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_attempt_counts"),
    )
    op.create_index("ix_attempt_counts_expires_at", "attempt_counts", ["expires_at"])
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purged_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_purges"),
    )
    _audit_deletable_before_the_latest_purge()


def _audit_deletable_before_the_latest_purge() -> None:
    """The audit trail stays append-only, except for events older than a recorded purge."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "IF TG_OP = 'DELETE' AND OLD.occurred_at < (SELECT max(purged_before) FROM audit_purges) "
            "THEN RETURN OLD; END IF; "
            "RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'restrict_violation'; END $$"
        )
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "WHEN OLD.occurred_at >= coalesce((SELECT max(purged_before) FROM audit_purges), '') "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def _audit_append_only_again() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'restrict_violation'; END $$"
        )
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def downgrade() -> None:
    _audit_append_only_again()
    op.drop_table("audit_purges")
    op.drop_index("ix_attempt_counts_expires_at", table_name="attempt_counts")
    op.drop_table("attempt_counts")
    with op.batch_alter_table("managers") as table:
        table.drop_column("session_version")
