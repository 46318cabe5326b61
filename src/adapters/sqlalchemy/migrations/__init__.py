"""Alembic environment and revisions; run them with :func:`adapters.sqlalchemy.migrate.upgrade`."""
