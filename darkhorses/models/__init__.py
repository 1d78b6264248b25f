"""The schema. Alembic's autogenerate compares migrations against `Base.metadata`."""
from .analysis import NonRunner, Rule4Official
from .base import Base, utcnow
from .historical import LEDGER_DONE, LEDGER_STATUSES, BackfillRequest, CollectionLedger, LedgerStatus, OddsHistorical
from .live import (
    CLOSE_REASONS,
    CLOSEOUT,
    OBSERVED,
    Bookmaker,
    BookmakerKey,
    CloseReason,
    LiveBookFacts,
    LivePrice,
    LiveRace,
    LiveRaceFacts,
    LiveRunner,
    LiveRunnerFacts,
    LiveSchedule,
    MarketLine,
    OddsHistory,
    OddsLive,
    OddsMove,
    RaceOffTime,
    Withdrawal,
)
from .operations import Adoption, LiveFetch, RunRecord, StatsCount, StatsDay, StatsSeen, TaskStatus

__all__ = [
    "Base", "utcnow", "Bookmaker", "BookmakerKey", "OddsLive", "OddsHistory", "OddsMove", "LiveRunner",
    "LivePrice", "LiveRaceFacts", "LiveRunnerFacts", "LiveBookFacts",
    "LiveRace", "OddsHistorical",
    "CollectionLedger", "LedgerStatus", "BackfillRequest", "LEDGER_STATUSES", "LEDGER_DONE", "LiveFetch",
    "RunRecord", "TaskStatus", "Adoption", "Withdrawal", "LiveSchedule", "MarketLine",
    "StatsCount", "StatsDay", "StatsSeen", "RaceOffTime", "CloseReason", "CLOSE_REASONS", "OBSERVED", "CLOSEOUT",
    "NonRunner", "Rule4Official",
]
