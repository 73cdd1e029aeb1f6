"""The store as autocode 0.1 left it (the hand-written SQLite schema's version 4), on any database.

A store made before Alembic (SQLite, ``meta.schema_version`` 1-4) is brought to that version by
the old scripts in :mod:`autocode.store.schema` and stamped with this revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

I, T = sa.Integer, sa.Text


def _id() -> sa.Column:
    return sa.Column("id", I, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", T, primary_key=True), sa.Column("value", T, nullable=False))
    op.create_table(
        "code_groups", sa.Column("name", T, primary_key=True), sa.Column("description", T, nullable=False, server_default=""),
        sa.Column("exclusive", I, nullable=False, server_default="0"), sa.Column("levels", T, nullable=False, server_default="[]"),
        sa.Column("position", I, nullable=False))
    op.create_table(
        "codes", _id(), sa.Column("path", T, nullable=False, unique=True), sa.Column("name", T, nullable=False),
        sa.Column("grp", T, sa.ForeignKey("code_groups.name"), nullable=False),
        sa.Column("parent_path", T, sa.ForeignKey("codes.path")),
        sa.Column("codable", I, nullable=False, server_default="1"), sa.Column("description", T, nullable=False, server_default=""),
        sa.Column("color", T), sa.Column("attrs", T, nullable=False, server_default="{}"), sa.Column("guid", T),
        sa.Column("position", I, nullable=False), sa.Column("imported", I, nullable=False, server_default="0"))
    op.create_table(
        "documents", _id(), sa.Column("name", T, nullable=False, unique=True), sa.Column("source_path", T),
        sa.Column("format", T, nullable=False), sa.Column("text", T, nullable=False), sa.Column("guid", T),
        sa.Column("imported_at", T, nullable=False))
    op.create_table(
        "speakers", _id(), sa.Column("document_id", I, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", T, nullable=False), sa.Column("role", T, nullable=False),
        sa.CheckConstraint("role IN ('moderator', 'participant')"), sa.UniqueConstraint("document_id", "name"))
    op.create_table(
        "segments", _id(), sa.Column("document_id", I, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ext_id", T), sa.Column("position", I, nullable=False), sa.Column("turn", I, nullable=False),
        sa.Column("speaker_id", I, sa.ForeignKey("speakers.id")), sa.Column("text", T, nullable=False),
        sa.Column("start", I, nullable=False), sa.Column("end", I, nullable=False), sa.Column("timestamp", T),
        sa.Column("codable", I, nullable=False, server_default="1"),
        sa.UniqueConstraint("document_id", "position"), sa.UniqueConstraint("document_id", "ext_id"))
    op.create_table(
        "coders", _id(), sa.Column("name", T, nullable=False, unique=True), sa.Column("kind", T, nullable=False),
        sa.Column("guid", T), sa.Column("refi_id", T), sa.CheckConstraint("kind IN ('human', 'model')"))
    # a coder has "seen" a segment when they coded it, including deciding on no code
    op.create_table(
        "seen", sa.Column("segment_id", I, sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), primary_key=True), sa.Column("created_at", T, nullable=False))
    op.create_table(
        "sessions", _id(), sa.Column("coder_id", I, sa.ForeignKey("coders.id"), nullable=False),
        sa.Column("strategy", T, nullable=False), sa.Column("model_version", T),
        sa.Column("params", T, nullable=False, server_default="{}"), sa.Column("started_at", T, nullable=False),
        sa.Column("ended_at", T))
    op.create_table(
        "codings", _id(), sa.Column("segment_id", I, sa.ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_id", I, sa.ForeignKey("codes.id"), nullable=False),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), nullable=False), sa.Column("source", T, nullable=False),
        sa.Column("model_version", T), sa.Column("probability", sa.Float), sa.Column("session_id", I, sa.ForeignKey("sessions.id")),
        sa.Column("created_at", T, nullable=False), sa.Column("note", T),
        sa.CheckConstraint("source IN ('human', 'model', 'accepted', 'corrected')"),
        sa.UniqueConstraint("segment_id", "code_id", "coder_id"))
    # exact coded spans (REFI-QDA selections), kept so that export loses nothing
    op.create_table(
        "selections", _id(), sa.Column("document_id", I, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_id", I, sa.ForeignKey("codes.id"), nullable=False),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), nullable=False),
        sa.Column("start", I, nullable=False), sa.Column("end", I, nullable=False), sa.Column("guid", T), sa.Column("name", T),
        sa.Column("created_at", T), sa.Column("coding_guid", T), sa.Column("description", T),
        sa.Column("creator_id", I, sa.ForeignKey("coders.id")), sa.Column("selected_at", T),
        sa.Column("modifier_id", I, sa.ForeignKey("coders.id")), sa.Column("modified_at", T))
    # every answer in an annotation session, in order; undo is an answer too
    op.create_table(
        "answers", _id(), sa.Column("session_id", I, sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("segment_id", I, sa.ForeignKey("segments.id"), nullable=False), sa.Column("action", T, nullable=False),
        sa.Column("suggested", T, nullable=False, server_default="[]"), sa.Column("answered", T, nullable=False, server_default="[]"),
        sa.Column("memo", T), sa.Column("model_version", T), sa.Column("created_at", T, nullable=False),
        sa.Column("undone", I, nullable=False, server_default="0"), sa.Column("answer_id", T),
        sa.CheckConstraint("action IN ('accept', 'correct', 'skip', 'undo')"))
    op.create_table(
        "memos", sa.Column("segment_id", I, sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("coder_id", I, sa.ForeignKey("coders.id"), primary_key=True), sa.Column("text", T, nullable=False),
        sa.Column("created_at", T, nullable=False))
    op.create_table(
        "rich_texts", sa.Column("document_id", I, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", T, nullable=False), sa.Column("data", sa.LargeBinary, nullable=False))
    op.create_table(
        "code_sets", _id(), sa.Column("guid", T, nullable=False, unique=True), sa.Column("name", T, nullable=False),
        sa.Column("description", T), sa.Column("position", I, nullable=False))
    op.create_table(
        "code_set_members", sa.Column("set_id", I, sa.ForeignKey("code_sets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("code_id", I, sa.ForeignKey("codes.id"), primary_key=True), sa.Column("position", I, nullable=False))
    op.create_index("codings_by_coder", "codings", ["coder_id", "segment_id"])
    op.create_index("segments_by_doc", "segments", ["document_id", "position"])
    op.create_index("answers_by_client_id", "answers", ["answer_id"], unique=True,
                    sqlite_where=sa.text("answer_id IS NOT NULL"), postgresql_where=sa.text("answer_id IS NOT NULL"))
    op.create_index("answers_by_session", "answers", ["session_id", "id"])
