"""stay indexes: tracing's "under way at an instant" scans carry the start time in the index

Revision ID: 5c1e7b2a9d40
Revises: 0faa10e1769e
Create Date: 2026-12-04 09:40:00

Visits and encounters that began before a window and lasted into it were found on
(venue, checked-out / last-seen) and then each row was read to check its start: thousands of rows
per index visit on a busy venue. With the start time in the index the database skips those rows
inside the index. The wider indexes replace the narrower ones (same leading columns).
"""
from __future__ import annotations

from alembic import op

revision = '5c1e7b2a9d40'
down_revision = '0faa10e1769e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_venue_stay', ['venue_id', 'checked_out_at', 'checked_in_at'],
                              unique=False)
        batch_op.drop_index('ix_visit_venue_checked_out')
    with op.batch_alter_table('encounter', schema=None) as batch_op:
        batch_op.create_index('ix_encounter_venue_heard',
                              ['venue_id', 'last_seen_at', 'first_seen_at'], unique=False)
        batch_op.drop_index('ix_encounter_venue_last_seen')


def downgrade() -> None:
    with op.batch_alter_table('encounter', schema=None) as batch_op:
        batch_op.create_index('ix_encounter_venue_last_seen', ['venue_id', 'last_seen_at'],
                              unique=False)
        batch_op.drop_index('ix_encounter_venue_heard')
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_venue_checked_out', ['venue_id', 'checked_out_at'],
                              unique=False)
        batch_op.drop_index('ix_visit_venue_stay')
