"""installation keys, tombstones, door notices and central staff

Revision ID: 3c7e5a9d1f60
Revises: 8e4f1b6d2c93
Create Date: 2026-12-05 12:40:00

A kiosk's own signing key is published to the central server and from there to every door
(`token_key.device_id` says which enrolled device published it, so revoking the device retires
its keys). A person erased on request leaves their uid behind (`visitor_tombstone`, no personal
data), so that their codes stay dead at doors that never knew them. A kiosk keeps the exposure
notices the central server gave until their visitor's next scan (`door_notice`). The central
server's receptionists of a kiosk's venue are sent down (`staff_user.from_central`), and its
phone form's link for the kiosk's venue (`sync_state.phone_form_url`); a kiosk keeps how far
its clock is off the central server's (`sync_state.clock_offset_s`).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '3c7e5a9d1f60'
down_revision = '8e4f1b6d2c93'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_form_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('clock_offset_s', sa.Integer(), nullable=True))
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_central', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('token_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_token_key_device_id'), ['device_id'], unique=False)
    op.create_table(
        'visitor_tombstone',
        sa.Column('uid', sa.String(length=24), nullable=False),
        sa.Column('deleted_at', core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('uid', name=op.f('pk_visitor_tombstone')),
    )
    with op.batch_alter_table('visitor_tombstone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visitor_tombstone_deleted_at'), ['deleted_at'],
                              unique=False)
    op.create_table(
        'door_notice',
        sa.Column('notice_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('visitor_uid', sa.String(length=24), nullable=False),
        sa.Column('venue_name', sa.String(length=200), nullable=False),
        sa.Column('exposed_from', core.db.UtcDateTime(), nullable=False),
        sa.Column('exposed_until', core.db.UtcDateTime(), nullable=False),
        sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
        sa.Column('seen_at', core.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('notice_id', name=op.f('pk_door_notice')),
    )
    with op.batch_alter_table('door_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_door_notice_visitor_uid'), ['visitor_uid'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_door_notice_created_at'), ['created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('door_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_door_notice_created_at'))
        batch_op.drop_index(batch_op.f('ix_door_notice_visitor_uid'))
    op.drop_table('door_notice')
    with op.batch_alter_table('visitor_tombstone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visitor_tombstone_deleted_at'))
    op.drop_table('visitor_tombstone')
    with op.batch_alter_table('token_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_token_key_device_id'))
        batch_op.drop_column('device_id')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('from_central')
    # Not a batch (a copy, drop and rename on SQLite): the sync triggers name sync_state, and
    # SQLite refuses to rename a table into a name triggers hold. Both databases drop a column.
    op.execute('ALTER TABLE sync_state DROP COLUMN clock_offset_s')
    op.execute('ALTER TABLE sync_state DROP COLUMN phone_form_url')
