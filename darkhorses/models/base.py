from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Table
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Named constraints so Alembic migrations are reproducible on PostgreSQL and SQLite alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so the key stays an autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and SQLite (which stores
    naive text): comparisons between stored and fresh values must never mix the two."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:
        # Every model maps a Table (none a join or a subquery); DeclarativeBase types
        # __table__ as any FromClause, which has no .name and cannot be inserted into.
        __table__: ClassVar[Table]


class ViewBase(DeclarativeBase):
    """Views (made by the migrations' SQL, darkhorses.models.views) mapped for reading: not in
    Base.metadata, so schema comparisons and create_all leave them alone."""
    metadata = MetaData()
    if TYPE_CHECKING:
        __table__: ClassVar[Table]


# Monthly partitions of ra_odds_moves (and its default partition) are made at run time,
# not described by the models: schema comparisons leave them out.
PARTITION = re.compile(r"^ra_odds_moves_(default|y\d{4}m\d\d)$")


def include_name(name, type_, parent_names) -> bool:
    """Alembic's include_name: everything but the history partitions."""
    if type_ == "table":
        return not PARTITION.match(name or "")
    return True
