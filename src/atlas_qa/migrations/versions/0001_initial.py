"""The first schema: accounts, sessions, tokens, throttling, secrets and the question log.

Tables are made only where missing, so the SQLite files of earlier releases (same tables, made by hand-written SQL)
upgrade in place; their `failures` table gains an `id` (it had SQLite's implicit rowid, which PostgreSQL lacks);
`secrets` is new (the pseudonym key moves there from the file `log.key` on first use: insight/pseudonyms.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if inspector.has_table("failures") and "id" not in {c["name"] for c in inspector.get_columns("failures")}:
        op.rename_table("failures", "failures_before_0001")
        op.execute("DROP INDEX IF EXISTS failures_key")
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("courses", sa.Text, nullable=False),
        sa.Column("password", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "tokens",
        sa.Column("hash", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float),
        if_not_exists=True,
    )
    op.create_table(
        "sessions",
        sa.Column("hash", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float),
        if_not_exists=True,
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        if_not_exists=True,
    )
    op.create_index("failures_key", "failures", ["key", "at"], if_not_exists=True)
    if sa.inspect(bind).has_table("failures_before_0001"):
        op.execute("INSERT INTO failures (key, at) SELECT key, at FROM failures_before_0001")
        op.drop_table("failures_before_0001")
    op.create_table(
        "known",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("course", sa.Text, nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("student", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("searched", sa.Text, nullable=False),
        sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("follow_up", sa.Integer, nullable=False),
        sa.Column("pages", sa.Text, nullable=False),
        sa.Column("passages", sa.Text, nullable=False),
        sa.Column("works", sa.Text, nullable=False),
        sa.Column("helpful", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("rated_at", sa.Float),
        if_not_exists=True,
    )
    op.create_index("questions_by_time", "questions", ["course", "t"], if_not_exists=True)
    op.create_table(
        "answers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "imports",
        sa.Column("course", sa.Text, primary_key=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        if_not_exists=True,
    )
