"""Fixtures of the integration tests; the SQL adapter's are defined in ``sql_fixtures``."""

from __future__ import annotations

from tests.integration.sql_fixtures import (
    backend,
    fake_backend,
    migrated_sqlite_file,
    postgres_autocommit,
    postgres_backend,
    postgres_database_url,
    postgres_engine,
    postgres_sessions,
    sqlite_backend,
    sqlite_engine,
)

__all__ = [
    "backend",
    "fake_backend",
    "migrated_sqlite_file",
    "postgres_autocommit",
    "postgres_backend",
    "postgres_database_url",
    "postgres_engine",
    "postgres_sessions",
    "sqlite_backend",
    "sqlite_engine",
]
