"""screen device: door screens paired with the server

Revision ID: 8e4f1b6d2c93
Revises: 7d2e9a4c1b58
Create Date: 2026-12-05 09:20:00

The door screen proves itself with a cookie it got by pairing, no longer by its address: after
upgrading, pair the kiosk's screen once (`flask --app app kiosk pair`, or the admin's screens page).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '8e4f1b6d2c93'
down_revision = '7d2e9a4c1b58'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'screen_device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('pairing_sha256', sa.String(length=64), nullable=True),
        sa.Column('pairing_expires_at', core.db.UtcDateTime(), nullable=True),
        sa.Column('secret_sha256', sa.String(length=64), nullable=True),
        sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
        sa.Column('paired_at', core.db.UtcDateTime(), nullable=True),
        sa.Column('revoked_at', core.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_device')),
        sa.UniqueConstraint('pairing_sha256', name=op.f('uq_screen_device_pairing_sha256')),
        sa.UniqueConstraint('secret_sha256', name=op.f('uq_screen_device_secret_sha256')),
    )


def downgrade() -> None:
    op.drop_table('screen_device')
