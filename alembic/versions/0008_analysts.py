"""For the analyst: non-runners parsed from the results (ra_non_runners) and official Rule 4
figures that replace our estimates (ra_rule4_official). Tables of their own: nothing else changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:10:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ra_non_runners',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_name', sa.String(length=128), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=True),
    sa.Column('reserve', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_id', 'horse_name', name=op.f('pk_ra_non_runners'))
    )
    op.create_index('ix_ra_non_runners_race_date', 'ra_non_runners', ['race_date'], unique=False)
    op.create_table('ra_rule4_official',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('deduction_pence', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_id', 'horse_id', name=op.f('pk_ra_rule4_official'))
    )


def downgrade() -> None:
    op.drop_table('ra_rule4_official')
    op.drop_index('ix_ra_non_runners_race_date', table_name='ra_non_runners')
    op.drop_table('ra_non_runners')
