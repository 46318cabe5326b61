"""Alembic revisions, oldest first. New ones: see :mod:`adapters.sqlalchemy.migrate`."""
