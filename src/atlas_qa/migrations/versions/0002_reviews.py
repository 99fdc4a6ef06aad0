"""Instructor-reviewed answers (`reviews`), and which review answered a logged question (`questions.review_id`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("course", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("questions", sa.Text, nullable=False),
        sa.Column("vectors", sa.LargeBinary, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("pages", sa.Text, nullable=False),
        sa.Column("reviewed_by", sa.Text, nullable=False),
        sa.Column("reviewed_at", sa.Float, nullable=False),
        if_not_exists=True,
    )
    op.create_index("reviews_by_course", "reviews", ["course"], if_not_exists=True)
    if "review_id" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("questions")}:
        op.add_column("questions", sa.Column("review_id", sa.Text))
