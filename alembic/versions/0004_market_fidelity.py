"""Market fidelity: non-runners (ra_odds_live_prices.withdrawn_at, ra_withdrawals), tomorrow's fetch
clock (ra_live_schedule), opening and closing prices per finished runner (ra_market_lines).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:10:00
"""
import sqlalchemy as sa

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ra_odds_live_prices', sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('ra_withdrawals',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('horse_name', sa.String(length=128), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_price', sa.Float(), nullable=True),
    sa.Column('last_price_books', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('reopened_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('race_id', 'horse_id', name=op.f('pk_ra_withdrawals'))
    )
    op.create_index('ix_ra_withdrawals_race_date', 'ra_withdrawals', ['race_date'], unique=False)
    op.create_table('ra_live_schedule',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_ra_live_schedule'))
    )
    op.create_table('ra_market_lines',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('opening_price', sa.Float(), nullable=True),
    sa.Column('opening_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closing_price', sa.Float(), nullable=True),
    sa.Column('closing_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closing_books', sa.Integer(), nullable=True),
    sa.Column('industry_sp', sa.Float(), nullable=True),
    sa.Column('betfair_sp', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_id', 'horse_id', name=op.f('pk_ra_market_lines'))
    )
    op.create_index('ix_ra_market_lines_race_date', 'ra_market_lines', ['race_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ra_market_lines_race_date', table_name='ra_market_lines')
    op.drop_table('ra_market_lines')
    op.drop_table('ra_live_schedule')
    op.drop_index('ix_ra_withdrawals_race_date', table_name='ra_withdrawals')
    op.drop_table('ra_withdrawals')
    op.drop_column('ra_odds_live_prices', 'withdrawn_at')
