"""Initial schema: live prices, price history, results, ledger, run and task records.

Also loads the canonical bookmakers (darkhorses/bookmakers.py) into ra_bookmakers.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:41:05.083412
"""
import sqlalchemy as sa

from alembic import op
from darkhorses.racing_api.bookmakers import BOOKMAKERS

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ra_bookmakers',
    sa.Column('bookmaker_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('bookmaker_id', name=op.f('pk_ra_bookmakers')),
    sa.UniqueConstraint('name', name=op.f('uq_ra_bookmakers_name'))
    )
    bookmakers = sa.table("ra_bookmakers", sa.column("bookmaker_id"), sa.column("name"), sa.column("type"))
    op.bulk_insert(bookmakers, [{"bookmaker_id": b.id, "name": b.name, "type": b.type} for b in BOOKMAKERS])
    op.create_table('ra_collection_ledger',
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('races', sa.Integer(), nullable=False),
    sa.Column('runners', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_date', name=op.f('pk_ra_collection_ledger'))
    )
    op.create_table('ra_live_races',
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('course', sa.String(length=64), nullable=True),
    sa.Column('race_name', sa.String(length=255), nullable=True),
    sa.Column('market_status', sa.String(length=16), nullable=False),
    sa.Column('captures', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('race_id', name=op.f('pk_ra_live_races'))
    )
    op.create_index('ix_ra_live_races_race_date', 'ra_live_races', ['race_date'], unique=False)
    op.create_table('ra_odds_historical',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('country', sa.String(length=8), nullable=True),
    sa.Column('track', sa.String(length=64), nullable=True),
    sa.Column('course_id', sa.String(length=32), nullable=True),
    sa.Column('race_time', sa.String(length=5), nullable=True),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('race_name', sa.String(length=255), nullable=True),
    sa.Column('going', sa.String(length=64), nullable=True),
    sa.Column('race_type', sa.String(length=32), nullable=True),
    sa.Column('distance', sa.String(length=32), nullable=True),
    sa.Column('distance_f', sa.Float(), nullable=True),
    sa.Column('race_class', sa.Integer(), nullable=True),
    sa.Column('is_handicap', sa.Boolean(), nullable=True),
    sa.Column('runners_count', sa.Integer(), nullable=True),
    sa.Column('horse_name', sa.String(length=128), nullable=True),
    sa.Column('official_rating', sa.Integer(), nullable=True),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('weight', sa.String(length=16), nullable=True),
    sa.Column('weight_lbs', sa.Integer(), nullable=True),
    sa.Column('jockey', sa.String(length=128), nullable=True),
    sa.Column('jockey_id', sa.String(length=32), nullable=True),
    sa.Column('trainer', sa.String(length=128), nullable=True),
    sa.Column('trainer_id', sa.String(length=32), nullable=True),
    sa.Column('headgear', sa.String(length=16), nullable=True),
    sa.Column('stall', sa.Integer(), nullable=True),
    sa.Column('finishing_position', sa.String(length=16), nullable=True),
    sa.Column('beaten_distance', sa.String(length=16), nullable=True),
    sa.Column('industry_sp', sa.Float(), nullable=True),
    sa.Column('sp_fractional', sa.String(length=16), nullable=True),
    sa.Column('sp_fav_rank', sa.Integer(), nullable=True),
    sa.Column('betfair_sp', sa.Float(), nullable=True),
    sa.Column('pre_race_min', sa.Float(), nullable=True),
    sa.Column('pre_race_max', sa.Float(), nullable=True),
    sa.Column('last_price_before_off', sa.Float(), nullable=True),
    sa.Column('win_return', sa.Float(), nullable=True),
    sa.Column('place_return', sa.Float(), nullable=True),
    sa.Column('ew_return', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_historical')),
    sa.UniqueConstraint('race_id', 'horse_id', name=op.f('uq_ra_odds_historical_race_id_horse_id'))
    )
    op.create_index('ix_ra_odds_historical_country', 'ra_odds_historical', ['country'], unique=False)
    op.create_index('ix_ra_odds_historical_race_date_track', 'ra_odds_historical', ['race_date', 'track'], unique=False)
    op.create_table('ra_odds_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('bookmaker_id', sa.String(length=32), nullable=False),
    sa.Column('odds_decimal', sa.Float(), nullable=False),
    sa.Column('odds_fractional', sa.String(length=16), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_history')),
    sa.UniqueConstraint('race_id', 'horse_id', 'bookmaker_id', 'changed_at', name=op.f('uq_ra_odds_history_race_id_horse_id_bookmaker_id_changed_at'))
    )
    op.create_index('ix_ra_odds_history_observed_at', 'ra_odds_history', ['observed_at'], unique=False)
    op.create_table('ra_odds_live',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('race_id', sa.String(length=32), nullable=False),
    sa.Column('horse_id', sa.String(length=32), nullable=False),
    sa.Column('bookmaker_id', sa.String(length=32), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('race_time', sa.String(length=5), nullable=True),
    sa.Column('off_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('course', sa.String(length=64), nullable=True),
    sa.Column('course_id', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=8), nullable=True),
    sa.Column('race_name', sa.String(length=255), nullable=True),
    sa.Column('race_class', sa.String(length=32), nullable=True),
    sa.Column('race_type', sa.String(length=32), nullable=True),
    sa.Column('distance', sa.String(length=32), nullable=True),
    sa.Column('going', sa.String(length=64), nullable=True),
    sa.Column('runners', sa.Integer(), nullable=True),
    sa.Column('horse_name', sa.String(length=128), nullable=True),
    sa.Column('horse_number', sa.String(length=8), nullable=True),
    sa.Column('draw', sa.String(length=8), nullable=True),
    sa.Column('jockey', sa.String(length=128), nullable=True),
    sa.Column('trainer', sa.String(length=128), nullable=True),
    sa.Column('age', sa.String(length=8), nullable=True),
    sa.Column('weight_lbs', sa.String(length=8), nullable=True),
    sa.Column('form', sa.String(length=32), nullable=True),
    sa.Column('bookmaker_name', sa.String(length=64), nullable=True),
    sa.Column('bookmaker_type', sa.String(length=16), nullable=True),
    sa.Column('odds_decimal', sa.Float(), nullable=True),
    sa.Column('odds_fractional', sa.String(length=16), nullable=True),
    sa.Column('ew_places', sa.String(length=8), nullable=True),
    sa.Column('ew_denom', sa.String(length=8), nullable=True),
    sa.Column('market_status', sa.String(length=16), nullable=False),
    sa.Column('in_play', sa.Boolean(), nullable=False),
    sa.Column('odds_timestamp', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_live')),
    sa.UniqueConstraint('race_id', 'horse_id', 'bookmaker_id', name=op.f('uq_ra_odds_live_race_id_horse_id_bookmaker_id')),
    postgresql_with={'fillfactor': 50},
    )
    op.create_index('ix_ra_odds_live_bookmaker_id_horse_id', 'ra_odds_live', ['bookmaker_id', 'horse_id'], unique=False)
    op.create_index('ix_ra_odds_live_off_dt', 'ra_odds_live', ['off_dt'], unique=False)
    op.create_index('ix_ra_odds_live_race_date_course', 'ra_odds_live', ['race_date', 'course'], unique=False)
    op.create_table('ra_odds_statistics',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_seconds', sa.Float(), nullable=False),
    sa.Column('races', sa.Integer(), nullable=False),
    sa.Column('runners', sa.Integer(), nullable=False),
    sa.Column('bookmakers', sa.Integer(), nullable=False),
    sa.Column('prices', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ra_odds_statistics'))
    )
    op.create_index('ix_ra_odds_statistics_kind_started_at', 'ra_odds_statistics', ['kind', 'started_at'], unique=False)
    op.create_table('ra_task_status',
    sa.Column('task_name', sa.String(length=64), nullable=False),
    sa.Column('last_state', sa.String(length=16), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_duration_seconds', sa.Float(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('task_name', name=op.f('pk_ra_task_status'))
    )


def downgrade() -> None:
    from darkhorses.db.adoption import is_adopted
    if is_adopted(op.get_bind()):  # the old service's tables stay; only the adoption record goes
        op.drop_table('ra_adoption')
        return
    op.drop_table('ra_task_status')
    op.drop_index('ix_ra_odds_statistics_kind_started_at', table_name='ra_odds_statistics')
    op.drop_table('ra_odds_statistics')
    op.drop_index('ix_ra_odds_live_race_date_course', table_name='ra_odds_live')
    op.drop_index('ix_ra_odds_live_off_dt', table_name='ra_odds_live')
    op.drop_index('ix_ra_odds_live_bookmaker_id_horse_id', table_name='ra_odds_live')
    op.drop_table('ra_odds_live')
    op.drop_index('ix_ra_odds_history_observed_at', table_name='ra_odds_history')
    op.drop_table('ra_odds_history')
    op.drop_index('ix_ra_odds_historical_race_date_track', table_name='ra_odds_historical')
    op.drop_index('ix_ra_odds_historical_country', table_name='ra_odds_historical')
    op.drop_table('ra_odds_historical')
    op.drop_index('ix_ra_live_races_race_date', table_name='ra_live_races')
    op.drop_table('ra_live_races')
    op.drop_table('ra_collection_ledger')
    op.drop_table('ra_bookmakers')
