"""The schema: SQLAlchemy Core tables on one :data:`metadata`.

Entities are not ORM-mapped: the repositories convert rows to the core's attrs entities
and value objects explicitly. Every unique rule the core knows by name carries that name
in ``info["violation"]``; :mod:`barbershop_adapters.sqlalchemy.errors` turns a clash into
``UniqueViolation(<that name>)``. Constraint and index names come from one naming
convention, so migrations and error translation agree on them on every database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: Final = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC and always read back as aware UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored
    as naive UTC text in one fixed format, which also keeps its ordering correct.
    Naive datetimes are refused: the core only deals in aware ones.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Ids: BIGINT identity on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite, which is
# already 64-bit there and the only type SQLite autoincrements.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSON documents: jsonb on PostgreSQL, JSON text on SQLite.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

PHONE_LENGTH: Final = 16  # "+" and at most 15 digits (E.164)
LOGIN_LENGTH: Final = 64
NAME_LENGTH: Final = 50  # first name, ФИО, e-mail and purchase name (seed 002: varchar(50))
ACTOR_LENGTH: Final = 64
CODE_LENGTH: Final = 64
STATUS_LENGTH: Final = 16
HASH_LENGTH: Final = 255
PARTNER_NAME_LENGTH: Final = 50
SOURCE_LENGTH: Final = 8 + PARTNER_NAME_LENGTH  # "manager" or "partner:<name>"
ATTEMPT_KEY_LENGTH: Final = 128  # a scope and a hex digest (sha256 or HMAC-SHA256)
IDEMPOTENCY_KEY_LENGTH: Final = 320  # "key:" + a client key of up to 255 characters, or "auto:" + sha256


def _created(name: str = "created_at") -> sa.Column[datetime]:
    return sa.Column(name, UtcDateTime(), nullable=False)


persons: Final = sa.Table(
    "persons",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("phone_number", sa.String(PHONE_LENGTH), nullable=False, comment="E.164, normalised"),
    sa.Column("login", sa.String(LOGIN_LENGTH), nullable=False),
    sa.Column("first_name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("password_hash", sa.String(HASH_LENGTH), nullable=True),
    sa.Column("must_change_password", sa.Boolean(), nullable=False),
    sa.Column("temporary_password_expires_at", UtcDateTime(), nullable=True),
    _created(),
    sa.Column("temporary_password_voided_at", UtcDateTime(), nullable=True),
    sa.Column("first_signed_in_at", UtcDateTime(), nullable=True),
    sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"),
    sa.UniqueConstraint("login", info={"violation": "person_login"}),
)
# The phone lookup of step 3 and the arbiter of A6 races: a unique index, not a check.
sa.Index(None, persons.c.phone_number, unique=True, info={"violation": "person_phone"})

clients: Final = sa.Table(
    "clients",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("person_id", Id, sa.ForeignKey("persons.id"), nullable=False),
    sa.Column("registered_at", UtcDateTime(), nullable=False),
    sa.Column("registered_by", sa.String(ACTOR_LENGTH), nullable=False),
    sa.Column("source", sa.String(SOURCE_LENGTH), nullable=False),
    sa.Column("full_name", sa.String(NAME_LENGTH), nullable=True),
    sa.Column("email", sa.String(NAME_LENGTH), nullable=True),
    sa.Column("channel_accounts", Json, nullable=False),
    sa.UniqueConstraint("person_id", info={"violation": "client_person"}),
)

consents: Final = sa.Table(
    "consents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), nullable=False, index=True),
    sa.Column("consent_type", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("granted", sa.Boolean(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("recorded_by", sa.String(ACTOR_LENGTH), nullable=False),
)

channels: Final = sa.Table(
    "channels",
    metadata,
    sa.Column("code", sa.String(CODE_LENGTH), primary_key=True),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("address_kind", sa.String(STATUS_LENGTH), nullable=False),
)

notification_templates: Final = sa.Table(
    "notification_templates",
    metadata,
    sa.Column("code", sa.String(CODE_LENGTH), primary_key=True),
    sa.Column("channel", sa.String(CODE_LENGTH), sa.ForeignKey("channels.code"), primary_key=True),
    sa.Column("kind", sa.String(STATUS_LENGTH), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
)

# The outbox: a notification is written in the registration's transaction; workers claim
# due rows (status, next_attempt_at) with FOR UPDATE SKIP LOCKED and a lease.
# ``channel`` and ``template_code`` are not foreign keys on purpose: A7 holds a
# notification for a channel that is unknown or gone, until a manager picks another.
client_notifications: Final = sa.Table(
    "client_notifications",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), nullable=False, index=True),
    sa.Column("channel", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("template_code", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("kind", sa.String(STATUS_LENGTH), nullable=False),
    sa.Column("status", sa.String(STATUS_LENGTH), nullable=False),
    _created(),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
    sa.Column("lease_until", UtcDateTime(), nullable=True),
    sa.Column("provider_message_id", sa.Text(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("secret", sa.LargeBinary(), nullable=True, comment="sealed temporary password, wiped once used"),
    sa.Column("secret_expires_at", UtcDateTime(), nullable=True, index=True),
    sa.Column("resend_of", Id, sa.ForeignKey("client_notifications.id"), nullable=True),
    sa.Column("superseded_by", Id, sa.ForeignKey("client_notifications.id"), nullable=True),
    sa.Column("fallback_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index(None, "status", "next_attempt_at"),
    # A provider's delivery report names its own message id: found by (channel, that id).
    sa.Index(None, "channel", "provider_message_id"),
    sa.Index(None, "fallback_pending"),
)

# Delivery reports for a provider message id that no notification carried when they came
# (a fast provider reports before the send is recorded); applied by the sweep once one
# does, purged after a week when none ever does.
provider_reports: Final = sa.Table(
    "provider_reports",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("channel", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("provider_message_id", sa.Text(), nullable=False),
    sa.Column("status", sa.String(STATUS_LENGTH), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    _created("received_at"),
    sa.Index(None, "channel", "provider_message_id", "status", unique=True),
    sa.Index(None, "received_at"),
)

notification_status_changes: Final = sa.Table(
    "notification_status_changes",
    metadata,
    sa.Column("notification_id", Id, sa.ForeignKey("client_notifications.id"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(STATUS_LENGTH), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
)

notification_attempts: Final = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("notification_id", Id, sa.ForeignKey("client_notifications.id"), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("channel", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("provider_message_id", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
)

# Append-only (the migration adds triggers refusing UPDATE and DELETE); no foreign keys,
# so the trail outlives whatever it talks about.
audit_events: Final = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("action", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("actor", sa.String(ACTOR_LENGTH), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("person_id", Id, nullable=True),
    sa.Column("client_id", Id, nullable=True, index=True),
    sa.Column("notification_id", Id, nullable=True, index=True),
    sa.Column("masked_phone", sa.String(PHONE_LENGTH), nullable=True),
    sa.Column("details", Json, nullable=False),
)

# Every audit purge (`barbershop audit purge`): the append-only trigger lets a DELETE through
# only for events older than the latest ``purged_before``, so the purge leaves its own trace.
audit_purges: Final = sa.Table(
    "audit_purges",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("purged_before", UtcDateTime(), nullable=False),
    sa.Column("run_at", UtcDateTime(), nullable=False),
    sa.Column("deleted", sa.Integer(), nullable=False),
)

managers: Final = sa.Table(
    "managers",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("login", sa.String(LOGIN_LENGTH), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("password_hash", sa.String(HASH_LENGTH), nullable=False),
    _created(),
    sa.Column("must_change_password", sa.Boolean(), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"),
    sa.UniqueConstraint("login", info={"violation": "manager_login"}),
)

partners: Final = sa.Table(
    "partners",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(PARTNER_NAME_LENGTH), nullable=False),
    sa.Column("key_digest", sa.String(128), nullable=False, comment="keyed hash of the API key"),
    _created(),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("name", info={"violation": "partner_name"}),
    sa.UniqueConstraint("key_digest", info={"violation": "partner_key"}),
)

purchases: Final = sa.Table(
    "purchases",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("client_id", Id, sa.ForeignKey("clients.id"), nullable=False, index=True),
    sa.Column("partner_id", Id, sa.ForeignKey("partners.id"), nullable=False),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column("registered_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("price > 0", name="price_positive"),
)

idempotency_records: Final = sa.Table(
    "idempotency_records",
    metadata,
    sa.Column("scope", sa.String(CODE_LENGTH), nullable=False),
    sa.Column("key", sa.String(IDEMPOTENCY_KEY_LENGTH), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    _created(),
    sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("state", sa.String(STATUS_LENGTH), nullable=False),
    sa.Column("result_id", Id, nullable=True),
    sa.PrimaryKeyConstraint("scope", "key", info={"violation": "idempotency_key"}),
)

# Brute-force counters (AttemptCounter) when there is no Redis: one row per key and window;
# the scheduler's sweep drops rows of windows that have passed.
attempt_counts: Final = sa.Table(
    "attempt_counts",
    metadata,
    sa.Column("key", sa.String(ATTEMPT_KEY_LENGTH), primary_key=True),
    sa.Column("window_start", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False, index=True, comment="Unix time"),
)

REFERENCE_TABLES: Final = (channels, notification_templates)
"""Seeded by the initial migration; everything else starts empty."""
