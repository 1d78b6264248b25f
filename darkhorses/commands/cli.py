"""`python -m darkhorses <command>`: the service's commands for people and checks."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import closing
from datetime import date, datetime, timedelta, timezone

from ..core.settings import Settings, SettingsError, get_settings, mask_url


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m darkhorses", description=(
        "DarkHorses Workers: UK and Irish racing odds and results from The Racing API."))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sim = commands.add_parser("simulator", help="serve the bundled simulator of The Racing API")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--faults", default="", help="e.g. latency=0.2,error_rate=0.1,truncate_rate=0.05")
    sim.add_argument("--results-history-days", type=int, default=None,
                     help="refuse results older than this many days (an account without the add-on)")
    sim.add_argument("--raceday", action="store_true",
                     help="a compressed race day: a race off every minute or two from now (docs/chaos.md)")

    commands.add_parser("migrate", help="create or upgrade the schema (alembic upgrade head)")
    commands.add_parser("live-once", help="run one live odds cycle in-process and print its summary")

    hist = commands.add_parser("historical", help="collect one day's results in-process")
    hist.add_argument("--date", type=_date, default=None, help="UK date (default: yesterday)")

    back = commands.add_parser("backfill", help="collect results for a range of dates")
    back.add_argument("start", type=_date)
    back.add_argument("end", type=_date)
    back.add_argument("--oldest-first", action="store_true", help="default: newest first")
    back.add_argument("--wait", action="store_true", help="show progress until every date settles")
    back.add_argument("--refresh", action="store_true",
                      help="also re-collect dates the old service's rows cover (they are replaced)")

    commands.add_parser("stats", help="compute statistics and write the JSON files")
    status = commands.add_parser("status", help="is collection healthy? (loop, tasks, rows, backfill)")
    status.add_argument("--json", action="store_true")

    run = commands.add_parser("run", help="worker + beat + live loop in one process, no infrastructure needed")
    run.add_argument("--for", dest="duration", type=float, default=None, metavar="SECONDS")

    chart = commands.add_parser("chart", help="draw the price movement of one race")
    chart.add_argument("race_id")
    chart.add_argument("--out", default=None)
    chart.add_argument("--bookmaker", default=None)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    handler = globals()["cmd_" + args.command.replace("-", "_")]
    try:
        return handler(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line, code = _one_line_error(exc, settings)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return code


def _one_line_error(exc: Exception, settings: Settings) -> tuple[str | None, int]:
    """The one line (and exit code) for an error an operator can act on; (None, 0) for a bug."""
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy.exc import DBAPIError, OperationalError

    from ..core.logsafe import safe
    from ..historical.planning import DateRefused
    from ..racing_api.client import RacingAPIError
    if isinstance(exc, DateRefused):
        return f"error: {exc}", 2
    if isinstance(exc, RacingAPIError):
        return f"error: The Racing API: {safe(exc, 500)}", 1
    if isinstance(exc, BrokerError):
        return (f"error: cannot reach the broker at {mask_url(settings.broker_url)} (CELERY_BROKER_URL): "
                f"{safe(exc, 300)}"), 1
    if isinstance(exc, DBAPIError):
        reason = safe(str(exc.orig).strip().splitlines()[0] if exc.orig and str(exc.orig).strip()
                      else type(exc).__name__, 300)
        if "no such table" in reason or getattr(exc.orig, "pgcode", None) in ("42P01", "42703"):
            return f"database error: {reason} — has `python -m darkhorses migrate` run?", 2
        if isinstance(exc, OperationalError):
            return (f"database error: {reason} — is DATABASE_URL ({mask_url(settings.database_url)}) right, "
                    "and has `python -m darkhorses migrate` run?"), 2
        return f"database error: {reason}", 1  # the data, not the connection: DATABASE_URL is fine
    return None, 0


def cmd_simulator(args) -> int:
    from .. import simulator
    argv = ["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)]
    if args.faults:
        argv += ["--faults", args.faults]
    if args.results_history_days is not None:
        argv += ["--results-history-days", str(args.results_history_days)]
    if args.raceday:
        argv.append("--raceday")
    return simulator.main(argv)


def cmd_migrate(args) -> int:
    from ..db.adoption import ForeignDatabase
    from ..db.migrations import upgrade
    url = get_settings().database_url
    try:
        result = upgrade(url)
    except ForeignDatabase as exc:
        print(f"migrate refused: {exc}", file=sys.stderr)
        return 2
    if result.get("adopted"):
        rows = ", ".join(f"{table} {count:,}" for table, count in result["rows"].items())
        print(f"adopted the old service's database, every row kept ({rows}); "
              "`python -m darkhorses status` shows its known faults")
    print(f"database at {mask_url(url)} is at the latest schema")
    return 0


def _require_credentials() -> bool:
    if not get_settings().has_credentials:
        print("error: RACING_API_USERNAME and RACING_API_PASSWORD are not set; "
              "start the simulator (python -m darkhorses simulator) and point RACING_API_URL at it, "
              "or use `python -m darkhorses run`", file=sys.stderr)
        return False
    return True


def cmd_live_once(args) -> int:
    from ..historical.same_day import store_same_day
    from ..live.cycle import run_cycle
    from ..racing_api.client import RacingAPIClient
    if not _require_credentials():
        return 2
    settings = get_settings()
    with closing(RacingAPIClient(settings)) as client:
        print(json.dumps(run_cycle(client, settings=settings, store_results=store_same_day).as_dict()))
    return 0


def cmd_historical(args) -> int:
    from ..core.clock import uk_date
    from ..historical.collect import DateUnavailable, collect_day
    from ..historical.planning import check_date
    from ..racing_api.client import RacingAPIClient
    day = args.date or uk_date(datetime.now(timezone.utc)) - timedelta(days=1)
    check_date(day)
    if not _require_credentials():
        return 2
    try:
        settings = get_settings()
        with closing(RacingAPIClient(settings)) as client:
            print(json.dumps(collect_day(day, client, settings)))
    except DateUnavailable as exc:
        print(json.dumps({"date": day.isoformat(), "status": "unavailable", "error": str(exc)}))
    return 0


def cmd_backfill(args) -> int:
    from ..historical.planning import check_range
    settings = get_settings()
    first, last = args.start, args.end
    check_range(first, last)
    if settings.broker_url:
        from ..tasks.app import app
        from ..tasks.historical import backfill
        # Fail in a second on a broker that is not there: publishing (and the result backend's
        # subscription) would otherwise retry for about 20 s and end in a traceback.
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0.2, timeout=5)
        result = backfill.apply_async(args=[first.isoformat(), last.isoformat()],
                                      kwargs={"newest_first": not args.oldest_first, "refresh": args.refresh})
        print(f"backfill {first}..{last} queued as task {result.id}")
    elif not _require_credentials():
        return 2
    else:  # no broker: collect in this process, one date after another
        _backfill_here(settings, first, last, args.refresh, not args.oldest_first)
    if args.wait and settings.broker_url:
        return _wait_for_backfill(first, last)
    return 0


def _backfill_progress(first: date, last: date) -> dict:
    from ..db import session_scope
    from ..historical.planning import progress
    with session_scope() as session:
        return progress(session, first, last)


def _backfill_here(settings: Settings, first: date, last: date, refresh: bool, newest_first: bool) -> None:
    from ..db import session_scope
    from ..historical import collect, ledger, planning
    from ..racing_api.client import RacingAPIClient
    with session_scope() as session:
        if refresh:
            ledger.release_legacy(session, first, last)
        dates = planning.plan(session, first, last, newest_first)
    started, baseline = time.monotonic(), _backfill_progress(first, last)["done"]
    with closing(RacingAPIClient(settings)) as client:
        for day in dates:
            try:
                collect.collect_day(day, client, settings)
            except collect.DateUnavailable:
                pass
            _print_progress(_backfill_progress(first, last), started, baseline)
    print()


def _wait_for_backfill(first: date, last: date) -> int:
    started = time.monotonic()
    baseline = _backfill_progress(first, last)["done"]
    while True:
        progress = _backfill_progress(first, last)
        _print_progress(progress, started, baseline)
        if progress["remaining"] == 0:
            print()
            return 0 if not progress["by_status"].get("failed") else 1
        time.sleep(1.0)


def _print_progress(progress: dict, started: float, baseline: int | None) -> None:
    done, total = progress["done"], progress["total"]
    width = 30
    filled = int(width * done / total) if total else width
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = (done - (baseline or 0)) / elapsed * 60
    eta = (progress["remaining"] / (rate / 60)) if rate > 0 else None
    eta_text = f"{eta:,.0f}s" if eta is not None else "?"
    sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} dates "
                     f"{rate:,.1f} dates/min ETA {eta_text}   ")
    sys.stdout.flush()


def cmd_stats(args) -> int:
    from ..db import session_scope
    from ..stats.compute import update_statistics
    with session_scope() as session:
        summary = update_statistics(session, get_settings())
    print(json.dumps(summary))
    return 0


def cmd_status(args) -> int:
    """Exit status for monitors: 0 healthy, 1 needs attention, 2 the database cannot be reached."""
    from sqlalchemy.exc import OperationalError

    from ..core.store import store_for
    from ..db import session_scope
    from ..ops.status import collect_status, render_status, unreachable_report
    settings = get_settings()
    try:
        with session_scope() as session:
            report = collect_status(session, settings, store_for(settings) if settings.uses_redis else None)
    except OperationalError as exc:
        if not args.json:
            raise  # main() prints the one-line database error and returns 2
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        report = unreachable_report(mask_url(reason))
    print(json.dumps(report, default=str, indent=2) if args.json else render_status(report))
    return report["exit_code"]


def cmd_run(args) -> int:
    from .run import run
    return run(args.duration)


def cmd_chart(args) -> int:
    from ..db import session_scope
    from ..stats.charts import draw_race_chart
    with session_scope() as session:
        return draw_race_chart(session, args.race_id, args.out, args.bookmaker)
