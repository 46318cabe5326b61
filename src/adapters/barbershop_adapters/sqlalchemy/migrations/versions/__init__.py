"""Alembic revisions, oldest first. New ones: see :mod:`barbershop_adapters.sqlalchemy.migrate`."""
