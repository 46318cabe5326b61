"""Client accounts: a session version per person (a password change ends the client's other
sessions), when the client first signed in, when wrong guesses voided the temporary password;
the shipped welcome text gains the sign-in address.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_WELCOME = (
    "{first_name}, добро пожаловать в барбершоп! Логин: {login}, временный пароль: {password}. "
    "Пароль действует до {expires_at}, при первом входе его нужно сменить."
)
_NEW_WELCOME = _OLD_WELCOME + " Вход: {sign_in_url}"

_templates = sa.table("notification_templates", sa.column("code", sa.String), sa.column("body", sa.Text))


def _replace_welcome(old: str, new: str) -> None:
    """Only the shipped text changes: a template an operator edited stays as it is."""
    op.execute(
        sa.update(_templates).where(_templates.c.code == "REG_WELCOME", _templates.c.body == old).values(body=new)
    )


def upgrade() -> None:
    with op.batch_alter_table("persons") as table:
        table.add_column(sa.Column("temporary_password_voided_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("first_signed_in_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    _replace_welcome(_OLD_WELCOME, _NEW_WELCOME)


def downgrade() -> None:
    _replace_welcome(_NEW_WELCOME, _OLD_WELCOME)
    with op.batch_alter_table("persons") as table:
        table.drop_column("session_version")
        table.drop_column("first_signed_in_at")
        table.drop_column("temporary_password_voided_at")
