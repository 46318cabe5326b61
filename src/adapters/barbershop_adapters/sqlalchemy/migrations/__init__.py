"""Alembic environment and revisions; run them with :func:`barbershop_adapters.sqlalchemy.migrate.upgrade`."""
