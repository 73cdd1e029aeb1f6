"""Random checks: an annotation session's answer says whether its segment was drawn at random
(a *random check*, see :mod:`autocode.active.estimate`) rather than chosen by the strategy, so
that the model's agreement on those answers can be estimated again after a restart.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("random_check", sa.Integer, nullable=False, server_default="0"))
