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

    metrics = commands.add_parser("metrics", help="serve Prometheus metrics read from the database and Redis")
    metrics.add_argument("--host", default=None, help="default: METRICS_HOST (0.0.0.0)")
    metrics.add_argument("--port", type=int, default=None, help="default: METRICS_PORT (9808)")

    health = commands.add_parser("health", help="liveness probe: is this machine's worker or beat alive? (exit 0/1)")
    role = health.add_mutually_exclusive_group(required=True)
    role.add_argument("--worker", dest="role", action="store_const", const="worker")
    role.add_argument("--beat", dest="role", action="store_const", const="beat")
    health.add_argument("--node", default=None, help="one node name (e.g. live@HOST); default: every one running here")

    export = commands.add_parser("export", help="write prices, history, lines or results to files, one per day")
    export.add_argument("--from", dest="first", type=_date, required=True, metavar="D")
    export.add_argument("--to", dest="last", type=_date, required=True, metavar="D")
    export.add_argument("--what", default="prices,history,lines,results",
                        help="comma-separated: prices, history, lines, results (default: all)")
    export.add_argument("--format", dest="fmt", default="parquet", help="parquet (default) or csv")
    export.add_argument("--out", required=True, metavar="DIR")

    rule4 = commands.add_parser("rule4", help="a race's withdrawals with their Rule 4 deductions (JSON)")
    rule4.add_argument("race_id")

    settle = commands.add_parser("settle", help="the return of a win bet, Rule 4 deductions applied")
    settle.add_argument("race_id")
    settle.add_argument("horse_id")
    settle.add_argument("--price", required=True, help="fractional (5/2, EVS), decimal (3.5) or SP")
    settle.add_argument("--stake", type=float, default=1.0)
    settle.add_argument("--struck-at", default=None, metavar="ISO-TIME",
                        help="when the bet was struck (needed for an early price; UTC if no offset)")
    settle.add_argument("--json", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from ..core.logformat import configure
    configure(settings.log_level, settings.log_format)
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

    from ..analysis.export import ExportError
    from ..analysis.prices import PriceError
    from ..analysis.settlement import RaceNotFound
    from ..core.logsafe import safe
    from ..historical.planning import DateRefused
    from ..racing_api.client import RacingAPIError
    if isinstance(exc, DateRefused | ExportError | PriceError | RaceNotFound):
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


def cmd_metrics(args) -> int:
    """Serve /metrics until stopped (a scrape reads the database and Redis; nothing is kept here)."""
    from ..ops.metrics import serve
    settings = get_settings()
    host, port = args.host or settings.metrics_host, args.port or settings.metrics_port
    server, thread = serve(settings, port, host)
    print(f"metrics on http://{host}:{port}/metrics (database {mask_url(settings.database_url)}, "
          f"Redis {mask_url(settings.broker_url) or 'none'})", flush=True)
    try:
        thread.join()
    finally:
        server.shutdown()
    return 0


def cmd_health(args) -> int:
    """Exit 0 when the heartbeat is fresh, 1 when stale or missing: reads files only (milliseconds)."""
    from ..ops.health import check
    verdict = check(get_settings().heartbeat_dir, args.role, args.node)
    print(verdict.line)
    return 0 if verdict.healthy else 1


def cmd_run(args) -> int:
    from .run import run
    return run(args.duration)


def cmd_chart(args) -> int:
    from ..db import session_scope
    from ..stats.charts import draw_race_chart
    with session_scope() as session:
        return draw_race_chart(session, args.race_id, args.out, args.bookmaker)


def cmd_export(args) -> int:
    from pathlib import Path

    from ..analysis.export import check_request, export
    from ..db import session_scope
    kinds = [k.strip() for k in args.what.split(",") if k.strip()]
    # Every check before the database is touched: bad input is one line, whatever the database.
    check_request(args.first, args.last, kinds, args.fmt.lower(), Path(args.out), datetime.now(timezone.utc).date())
    with session_scope() as session:
        written = export(session, args.first, args.last, kinds, args.fmt.lower(), Path(args.out))
    for item in written:
        print(f"{item.path} {item.rows:,} rows")
    print(f"{len(written)} files, {sum(item.rows for item in written):,} rows")
    return 0


def cmd_rule4(args) -> int:
    from ..analysis.settlement import race_rule4
    from ..db import session_scope
    with session_scope() as session:
        print(json.dumps(race_rule4(session, args.race_id), indent=2))
    return 0


def cmd_settle(args) -> int:
    from ..analysis.prices import parse_price
    from ..analysis.rule4 import settle
    from ..analysis.settlement import load_race
    from ..db import session_scope
    struck_at = None
    if args.struck_at:
        try:
            struck_at = datetime.fromisoformat(args.struck_at)
        except ValueError:
            print(f"error: --struck-at {args.struck_at!r}: expected an ISO time such as 2026-12-07T14:05",
                  file=sys.stderr)
            return 2
        struck_at = struck_at if struck_at.tzinfo else struck_at.replace(tzinfo=timezone.utc)
    if not args.stake > 0:
        print(f"error: --stake {args.stake:g}: expected an amount above zero", file=sys.stderr)
        return 2
    if args.price.strip().upper() != "SP":
        parse_price(args.price)  # a price that cannot be read is one line before the database is asked
        if struck_at is None:
            print("error: an early price needs --struck-at (when the bet was struck)", file=sys.stderr)
            return 2
    with session_scope() as session:
        race = load_race(session, args.race_id)
    result = settle(args.price, args.stake, struck_at, race, horse_id=args.horse_id)
    if args.json:
        print(json.dumps(result._asdict()))
    elif result.void:
        print(f"return {result.returned:.2f}: void, {args.horse_id} was withdrawn (the stake back)")
    else:
        outcome = {True: "won", False: "lost", None: "no result yet: as a winner"}[result.won]
        rule4 = (f"Rule 4 {result.deduction_pence}p ({', '.join(result.applied)})" if result.applied
                 else "no Rule 4")
        print(f"return {result.returned:.2f}: stake {result.stake:.2f} at {result.price:g}, {rule4}, {outcome}"
              + (f", dead heat of {result.dead_heat}" if result.dead_heat > 1 else ""))
    return 0
