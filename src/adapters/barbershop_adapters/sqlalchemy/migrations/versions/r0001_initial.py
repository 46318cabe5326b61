"""Initial schema and the shipped reference data (channels, REG_WELCOME templates).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


_APPEND_ONLY = "audit_events is append-only"


def upgrade() -> None:
    _reference_tables()
    _people_tables()
    _notification_tables()
    _audit_table()
    _partner_tables()


def _reference_tables() -> None:
    channels = op.create_table(
        "channels",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("address_kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_channels")),
    )
    templates = op.create_table(
        "notification_templates",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["channel"], ["channels.code"], name=op.f("fk_notification_templates_channel")),
        sa.PrimaryKeyConstraint("code", "channel", name=op.f("pk_notification_templates")),
    )
    # The defaults as the product ships them at the time of installing: a fresh database
    # starts with what install_default_reference_data would add.
    op.bulk_insert(
        channels,
        [
            {"code": c.code, "title": c.title, "is_active": c.is_active, "address_kind": c.address_kind.value}
            for c in DEFAULT_CHANNELS
        ],
    )
    op.bulk_insert(
        templates,
        [
            {"code": t.code, "channel": t.channel, "kind": t.kind.value, "body": t.body, "is_active": t.is_active}
            for t in DEFAULT_TEMPLATES
        ],
    )


def _people_tables() -> None:
    op.create_table(
        "persons",
        sa.Column("id", _id(), nullable=False),
        sa.Column("phone_number", sa.String(16), nullable=False, comment="E.164, normalised"),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(50), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("temporary_password_expires_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("login", name=op.f("uq_persons_login")),
    )
    op.create_index(op.f("ix_persons_phone_number"), "persons", ["phone_number"], unique=True)
    op.create_table(
        "clients",
        sa.Column("id", _id(), nullable=False),
        sa.Column("person_id", _id(), nullable=False),
        sa.Column("registered_at", _instant(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("source", sa.String(58), nullable=False),
        sa.Column("full_name", sa.String(50), nullable=True),
        sa.Column("email", sa.String(50), nullable=True),
        sa.Column("channel_accounts", _json(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_clients_person_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("person_id", name=op.f("uq_clients_person_id")),
    )
    op.create_table(
        "consents",
        sa.Column("id", _id(), nullable=False),
        sa.Column("client_id", _id(), nullable=False),
        sa.Column("consent_type", sa.String(64), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_consents_client_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_client_id"), "consents", ["client_id"])
    op.create_table(
        "managers",
        sa.Column("id", _id(), nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managers")),
        sa.UniqueConstraint("login", name=op.f("uq_managers_login")),
    )


def _notification_tables() -> None:
    op.create_table(
        "client_notifications",
        sa.Column("id", _id(), nullable=False),
        sa.Column("client_id", _id(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("template_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("next_attempt_at", _instant(), nullable=True),
        sa.Column("lease_until", _instant(), nullable=True),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True, comment="sealed temporary password, wiped once used"),
        sa.Column("secret_expires_at", _instant(), nullable=True),
        sa.Column("resend_of", _id(), nullable=True),
        sa.Column("superseded_by", _id(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_client_notifications_client_id")),
        sa.ForeignKeyConstraint(
            ["resend_of"], ["client_notifications.id"], name=op.f("fk_client_notifications_resend_of")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["client_notifications.id"], name=op.f("fk_client_notifications_superseded_by")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_notifications")),
    )
    op.create_index(op.f("ix_client_notifications_client_id"), "client_notifications", ["client_id"])
    op.create_index(op.f("ix_client_notifications_secret_expires_at"), "client_notifications", ["secret_expires_at"])
    op.create_index(
        op.f("ix_client_notifications_status_next_attempt_at"), "client_notifications", ["status", "next_attempt_at"]
    )
    op.create_table(
        "notification_status_changes",
        sa.Column("notification_id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["client_notifications.id"],
            name=op.f("fk_notification_status_changes_notification_id"),
        ),
        sa.PrimaryKeyConstraint("notification_id", "position", name=op.f("pk_notification_status_changes")),
    )
    op.create_table(
        "notification_attempts",
        sa.Column("notification_id", _id(), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["client_notifications.id"], name=op.f("fk_notification_attempts_notification_id")
        ),
        sa.PrimaryKeyConstraint("notification_id", "number", name=op.f("pk_notification_attempts")),
    )


def _audit_table() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", _id(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("occurred_at", _instant(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("person_id", _id(), nullable=True),
        sa.Column("client_id", _id(), nullable=True),
        sa.Column("notification_id", _id(), nullable=True),
        sa.Column("masked_phone", sa.String(16), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_client_id"), "audit_events", ["client_id"])
    op.create_index(op.f("ix_audit_events_notification_id"), "audit_events", ["notification_id"])
    # Append-only, enforced by the database itself.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}' USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )


def _partner_tables() -> None:
    op.create_table(
        "partners",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("key_digest", sa.String(128), nullable=False, comment="keyed hash of the API key"),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("revoked_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("key_digest", name=op.f("uq_partners_key_digest")),
        sa.UniqueConstraint("name", name=op.f("uq_partners_name")),
    )
    op.create_table(
        "purchases",
        sa.Column("id", _id(), nullable=False),
        sa.Column("client_id", _id(), nullable=False),
        sa.Column("partner_id", _id(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("registered_at", _instant(), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_purchases_price_positive")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_purchases_client_id")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_purchases_partner_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
    )
    op.create_index(op.f("ix_purchases_client_id"), "purchases", ["client_id"])
    op.create_table(
        "idempotency_records",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result_id", _id(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_index(op.f("ix_idempotency_records_expires_at"), "idempotency_records", ["expires_at"])


def downgrade() -> None:
    for table in (
        "idempotency_records",
        "purchases",
        "partners",
        "audit_events",
        "notification_attempts",
        "notification_status_changes",
        "client_notifications",
        "managers",
        "consents",
        "clients",
        "persons",
        "notification_templates",
        "channels",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
