"""DATABASE_URL may be Supabase's pooler in transaction mode, with sslmode=require: no session
state may outlive a transaction, and the URL's options must reach psycopg2."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text

from darkhorses import db
from darkhorses.core.settings import get_settings, settings_from_env
from darkhorses.live.cycle import run_cycle
from darkhorses.stats.compute import update_statistics
from tests.builders import FakeCards, card, quote, runner


def test_sslmode_reaches_psycopg2():
    url = settings_from_env({"DATABASE_URL": "postgres://u:secret@db.example.supabase.co:6543/postgres"
                                             "?sslmode=require"}).database_url
    engine = create_engine(url)
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert kwargs["sslmode"] == "require" and kwargs["port"] == 6543


def test_no_session_state_outlives_a_transaction(database_url, monkeypatch, tmp_path):
    # One pooled connection, so what a cycle left behind would still be on it afterwards.
    monkeypatch.setattr(db.engine, "_create_engine", lambda url: create_engine(url, pool_size=1, max_overflow=0))
    db.dispose_engines()
    now = datetime.now(timezone.utc)
    off = (now + timedelta(minutes=20)).isoformat()
    books = ["Bet365", "William Hill", "Paddy Power", "Sky Bet", "Ladbrokes", "Coral", "Betfred", "Unibet"]
    runners = [runner(f"h{i}", [quote(b, str(2 + i / 4), "5/2") for b in books]) for i in range(30)]
    summary = run_cycle(FakeCards([card("rac_1", off, runners)]), now)
    assert summary.changed == 240 >= db.COPY_THRESHOLD  # the COPY + temporary table path ran
    with db.session_scope() as session:
        update_statistics(session, get_settings(), now, output_dir=str(tmp_path / "stats"))  # SET LOCAL work_mem ran
    with db.get_engine().connect() as conn:
        state = conn.execute(text(
            "SELECT (SELECT count(*) FROM pg_prepared_statements), "
            "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()), "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
            "current_setting('work_mem') <> '64MB'")).one()
    assert tuple(state) == (0, 0, 0, True)
