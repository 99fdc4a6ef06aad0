"""Alembic's environment for atlas-qa: always run on a connection `database.upgrade` passes in."""

from __future__ import annotations

from alembic import context

from atlas_qa.database import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    # Replicas that start together upgrade one at a time: the second finds the work done.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7107)")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite: the write lock before the version is read
    context.run_migrations()
