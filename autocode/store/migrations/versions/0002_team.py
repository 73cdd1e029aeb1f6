"""A team on one server (``autocode serve``).

* accounts: a coder's role (owner or coder) and argon2 password hash;
* logins: only a hash of the cookie's token is kept, with the login's CSRF token;
* assignments: each segment's slots, one per coder who is to code it (two on the double-coding
  overlap; ``needed`` is fixed when the first is taken). A slot is held by a lease until answered
  (``done``); the primary key makes taking one atomic, on one server or several;
* overlap: the share of segments the owner wants double coded, for the project ('') and per group.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

I, T = sa.Integer, sa.Text


def upgrade() -> None:
    op.create_table(
        "accounts", sa.Column("coder_id", I, sa.ForeignKey("coders.id"), primary_key=True, autoincrement=False),
        sa.Column("role", T, nullable=False), sa.Column("password_hash", T, nullable=False),
        sa.Column("disabled", I, nullable=False, server_default="0"), sa.Column("created_at", T, nullable=False),
        sa.CheckConstraint("role IN ('owner', 'coder')"))
    op.create_table(
        "logins", sa.Column("token_hash", T, primary_key=True),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), nullable=False), sa.Column("csrf", T, nullable=False),
        sa.Column("created_at", T, nullable=False), sa.Column("expires_at", T, nullable=False))
    op.create_table(
        "assignments", sa.Column("segment_id", I, sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("slot", I, primary_key=True, autoincrement=False),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), nullable=False),
        sa.Column("leased_at", T, nullable=False), sa.Column("expires_at", T),
        sa.Column("done", I, nullable=False, server_default="0"),
        sa.Column("needed", I, nullable=False, server_default="1"), sa.UniqueConstraint("segment_id", "coder_id"))
    op.create_table("overlap", sa.Column("scope", T, primary_key=True), sa.Column("share", sa.Float, nullable=False))
