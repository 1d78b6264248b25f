"""The off as it happens: a race's re-timings (ra_race_off_times), its close on a terminal signal
and how late it went (ra_live_races), close-out moves marked in ra_odds_history.source, same-day
results marked in ra_odds_historical.provisional.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:00:00
"""
import sqlalchemy as sa

from alembic import op
from darkhorses.models.views import DROP_LIVE_VIEW, create_live_view_sql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

LIVE_RACE_COLUMNS = ('last_move_at', 'closed_at', 'close_reason', 'off_late_seconds', 'closeout_at',
                     'closeout_attempts', 'closeout_moves', 'closeout_error')


def upgrade() -> None:
    op.create_table('ra_race_off_times',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_id', 'seen_at', name=op.f('pk_ra_race_off_times'))
    )
    # Plain ADD COLUMNs (SQLite too): a batch copy of ra_live_races would break the view over it.
    op.add_column('ra_live_races', sa.Column('last_move_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('ra_live_races', sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('ra_live_races', sa.Column('close_reason', sa.String(length=16), nullable=True))
    op.add_column('ra_live_races', sa.Column('off_late_seconds', sa.Float(), nullable=True))
    op.add_column('ra_live_races', sa.Column('closeout_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('ra_live_races', sa.Column('closeout_attempts', sa.Integer(), server_default=sa.text('0'),
                                             nullable=False))
    op.add_column('ra_live_races', sa.Column('closeout_moves', sa.Integer(), nullable=True))
    op.add_column('ra_live_races', sa.Column('closeout_error', sa.Text(), nullable=True))
    # Races already closed at their scheduled off need no close-out: only races closed from now on get one.
    op.execute("UPDATE ra_live_races SET closed_at = off_dt, closeout_at = off_dt WHERE market_status <> 'OPEN'")
    # On PostgreSQL the parent of the partitions: the column reaches every partition, existing rows
    # read the default without a rewrite.
    op.add_column('ra_odds_history', sa.Column('source', sa.String(length=16), server_default=sa.text("'observed'"),
                                               nullable=False))
    op.add_column('ra_odds_historical', sa.Column('provisional', sa.Boolean(), server_default=sa.text('false'),
                                                  nullable=False))


def downgrade() -> None:
    # Provisional dates go back to pending: the daily job of the older code settles them.
    op.execute("UPDATE ra_collection_ledger SET status = 'pending' WHERE status = 'provisional'")
    with op.batch_alter_table('ra_odds_historical', schema=None) as batch_op:
        batch_op.drop_column('provisional')
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column('ra_odds_history', 'source')
    else:
        with op.batch_alter_table('ra_odds_history', schema=None) as batch_op:
            batch_op.drop_column('source')
    op.execute(DROP_LIVE_VIEW)  # SQLite rebuilds ra_live_races; the view over it is made again after
    with op.batch_alter_table('ra_live_races', schema=None) as batch_op:
        for column in reversed(LIVE_RACE_COLUMNS):
            batch_op.drop_column(column)
    op.execute(create_live_view_sql())
    op.drop_table('ra_race_off_times')
