"""The database: engines and the one session scope, the one upsert helper, the schema's
migrations (and adoption of the replaced service's database), and history partitions."""
from .engine import dispose_engines, driver_cursor, get_engine, rowcount, session_scope
from .upsert import COPY_THRESHOLD, unique_by_key, upsert

__all__ = ["COPY_THRESHOLD", "dispose_engines", "driver_cursor", "get_engine", "rowcount", "session_scope",
           "unique_by_key", "upsert"]
