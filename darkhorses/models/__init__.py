"""The schema. Alembic's autogenerate compares migrations against `Base.metadata`."""
from .base import Base, utcnow
from .historical import LEDGER_DONE, LEDGER_STATUSES, BackfillRequest, CollectionLedger, OddsHistorical
from .live import Bookmaker, LiveRace, LiveSchedule, MarketLine, OddsHistory, OddsLive, Withdrawal
from .operations import Adoption, LiveFetch, RunRecord, TaskStatus

__all__ = [
    "Base", "utcnow", "Bookmaker", "OddsLive", "OddsHistory", "LiveRace", "OddsHistorical",
    "CollectionLedger", "BackfillRequest", "LEDGER_STATUSES", "LEDGER_DONE", "LiveFetch", "RunRecord", "TaskStatus", "Adoption",
    "Withdrawal", "LiveSchedule", "MarketLine",
]
