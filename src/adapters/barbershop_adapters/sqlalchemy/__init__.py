"""Persistence on SQLAlchemy 2 (async): PostgreSQL through psycopg 3, or an embedded SQLite file.

* :mod:`.engine` — :class:`~.engine.DatabaseSettings` and :func:`~.engine.create_engine`;
* :mod:`.unit_of_work` — :class:`~.unit_of_work.SqlAlchemyUnitOfWorkFactory`, the ``UnitOfWorkFactory``;
* :mod:`.sessions` — :class:`~.sessions.SqlSessionReader`, the ``SessionReader`` (one statement, no transaction);
* :mod:`.migrate` — :func:`~.migrate.upgrade`, the Alembic migrations (``barbershop db upgrade``);
* :mod:`.tables` — the schema; :mod:`.repositories` — rows to entities and back;
  :mod:`.errors` — the one place where database failures become the core's exceptions.
"""
