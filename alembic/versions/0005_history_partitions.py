"""History partitioned by month (PostgreSQL), statistics rollups, card digests.

ra_odds_history becomes a declarative RANGE partition on changed_at: a month's partition per
month that holds rows (plus the current month and three ahead), a default partition for
outliers, every existing row copied across in this transaction. SQLite keeps a plain table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:30:00
"""
from datetime import date

import sqlalchemy as sa

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

HISTORY_COLUMNS = """
    race_id VARCHAR(32) NOT NULL,
    horse_id VARCHAR(32) NOT NULL,
    bookmaker_id VARCHAR(32) NOT NULL,
    odds_decimal DOUBLE PRECISION NOT NULL,
    odds_fractional VARCHAR(16),
    changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    observed_at TIMESTAMP WITH TIME ZONE NOT NULL"""
COPIED = "id, race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, changed_at, observed_at"
UNIQUE = "uq_ra_odds_history_race_id_horse_id_bookmaker_id_changed_at"


def _month(day: date, shift: int = 0) -> date:
    months = day.year * 12 + day.month - 1 + shift
    return date(months // 12, months % 12 + 1, 1)


def _rename_old() -> None:
    op.execute("ALTER TABLE ra_odds_history RENAME TO ra_odds_history_old")
    op.execute("ALTER TABLE ra_odds_history_old RENAME CONSTRAINT pk_ra_odds_history TO pk_ra_odds_history_old")
    op.execute(f"ALTER TABLE ra_odds_history_old RENAME CONSTRAINT {UNIQUE} TO uq_ra_odds_history_old")
    op.execute("ALTER INDEX ix_ra_odds_history_observed_at RENAME TO ix_ra_odds_history_old_observed_at")
    # The id sequence outlives the old table: the new one keeps numbering where it left off.
    op.execute("ALTER SEQUENCE ra_odds_history_id_seq OWNED BY NONE")


def _partition_history() -> None:
    bind = op.get_bind()
    _rename_old()
    op.execute(f"""CREATE TABLE ra_odds_history (
        id BIGINT NOT NULL DEFAULT nextval('ra_odds_history_id_seq'),{HISTORY_COLUMNS},
        CONSTRAINT pk_ra_odds_history PRIMARY KEY (id, changed_at),
        CONSTRAINT {UNIQUE} UNIQUE (race_id, horse_id, bookmaker_id, changed_at)
    ) PARTITION BY RANGE (changed_at)""")
    op.execute("CREATE INDEX ix_ra_odds_history_observed_at ON ra_odds_history (observed_at)")
    op.execute("CREATE TABLE ra_odds_history_default PARTITION OF ra_odds_history DEFAULT")
    months = {m for (m,) in bind.execute(sa.text(
        "SELECT DISTINCT CAST(date_trunc('month', changed_at AT TIME ZONE 'UTC') AS date) FROM ra_odds_history_old"))}
    this_month = _month(date.today())
    months.update(_month(this_month, shift) for shift in range(0, 4))
    for month in sorted(months):
        following = _month(month, 1)
        op.execute(f"CREATE TABLE ra_odds_history_y{month:%Ym%m} PARTITION OF ra_odds_history "
                   f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{following.isoformat()} 00:00:00+00')")
    op.execute(f"INSERT INTO ra_odds_history ({COPIED}) SELECT {COPIED} FROM ra_odds_history_old")
    op.execute("DROP TABLE ra_odds_history_old")
    op.execute("ALTER SEQUENCE ra_odds_history_id_seq OWNED BY ra_odds_history.id")


def _unpartition_history() -> None:
    _rename_old()
    op.execute(f"""CREATE TABLE ra_odds_history (
        id BIGINT NOT NULL DEFAULT nextval('ra_odds_history_id_seq'),{HISTORY_COLUMNS},
        CONSTRAINT pk_ra_odds_history PRIMARY KEY (id),
        CONSTRAINT {UNIQUE} UNIQUE (race_id, horse_id, bookmaker_id, changed_at))""")
    op.execute("CREATE INDEX ix_ra_odds_history_observed_at ON ra_odds_history (observed_at)")
    op.execute(f"INSERT INTO ra_odds_history ({COPIED}) SELECT {COPIED} FROM ra_odds_history_old")
    op.execute("DROP TABLE ra_odds_history_old CASCADE")
    op.execute("ALTER SEQUENCE ra_odds_history_id_seq OWNED BY ra_odds_history.id")


def upgrade() -> None:
    with op.batch_alter_table('ra_live_races', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_digest', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('card_counts', sa.JSON(), nullable=True))
    op.create_index('ix_ra_odds_historical_updated_at', 'ra_odds_historical', ['updated_at'], unique=False)
    op.create_table('ra_stats_days',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('race_date', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'race_date', name=op.f('pk_ra_stats_days'))
    )
    op.create_table('ra_stats_seen',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('dimension', sa.String(length=48), nullable=False),
    sa.Column('value', sa.String(length=160), nullable=False),
    sa.PrimaryKeyConstraint('source', 'dimension', 'value', name=op.f('pk_ra_stats_seen'))
    )
    op.create_table('ra_stats_counts',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('dimension', sa.String(length=48), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'dimension', name=op.f('pk_ra_stats_counts'))
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_history()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_history()
    op.drop_table('ra_stats_counts')
    op.drop_table('ra_stats_seen')
    op.drop_table('ra_stats_days')
    op.drop_index('ix_ra_odds_historical_updated_at', table_name='ra_odds_historical')
    with op.batch_alter_table('ra_live_races', schema=None) as batch_op:
        batch_op.drop_column('card_counts')
        batch_op.drop_column('card_digest')
