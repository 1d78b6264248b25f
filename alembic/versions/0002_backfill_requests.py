"""Backfill requests: a backfill survives a lost broker and is resumed when it stalls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 20:20:46.815253
"""
import sqlalchemy as sa

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ra_backfill_requests',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('newest_first', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('resumes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('progressed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_ra_backfill_requests'))
    )
    op.create_index('ix_ra_backfill_requests_status', 'ra_backfill_requests', ['status'], unique=False)


def downgrade() -> None:
    from darkhorses.db.adoption import is_adopted
    if is_adopted(op.get_bind()):  # 0003 already removed everything adoption added
        return
    op.drop_index('ix_ra_backfill_requests_status', table_name='ra_backfill_requests')
    op.drop_table('ra_backfill_requests')
