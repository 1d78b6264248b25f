"""Benchmark: exporting a month of price history, memory flat whatever the range.

    .venv/bin/python -m bench.export [--days 30] [--rows-per-day 100000]

Fills ra_odds_history of a scratch PostgreSQL database with DAYS days of ROWS_PER_DAY price
changes (a UK+IRE day holds ~100k: bench/year.py), with SQL alone (INSERT ... SELECT FROM
generate_series). Then, each in a fresh process so each peak is its own:
  - `export --what history` of one day, and of the whole month (one Parquet file per day);
  - the archive of the month (darkhorses.analysis.archive: one Parquet file, row count checked).
Prints rows, seconds, rows/s and the process's peak RSS for each, and the ratio of the month's
peak to the day's: streamed (a server-side cursor, written in batches) it stays near 1 whatever
the range. Target: month/day peak RSS ratio under 1.5.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.common import scratch_database

FIRST = date(2026, 10, 1)
TARGET_RATIO = 1.5

SEED = """
INSERT INTO ra_odds_history (race_id, horse_id, bookmaker_id, odds_decimal, odds_fractional, changed_at, observed_at)
SELECT 'rac_' || (i / 312), 'hrs_' || ((i / 26) % 12), 'bk' || (i % 26),
       1.5 + (hashint8(i) & 1023) / 50.0, ((hashint8(i) & 1023) / 25 + 1) || '/2',
       CAST(:first AS timestamptz) + make_interval(secs => i * 86400.0 * :days / :total),
       CAST(:first AS timestamptz) + make_interval(secs => i * 86400.0 * :days / :total + 20)
FROM generate_series(0, :total - 1) AS i
"""


def child(argv: list[str]) -> None:
    """In a process of its own: one export (or the archive), then its figures as JSON."""
    import resource
    started = time.perf_counter()
    if argv[0] == "archive":
        from darkhorses.analysis.archive import archive_month
        from darkhorses.db import session_scope
        with session_scope() as session:
            ok = archive_month(session, date.fromisoformat(argv[1]), argv[2])
        from pyarrow.parquet import ParquetFile
        rows = ParquetFile(Path(argv[2]) / f"history-{argv[1][:7]}.parquet").metadata.num_rows if ok else 0
    else:
        from darkhorses.analysis.export import export
        from darkhorses.db import session_scope
        with session_scope() as session:
            written = export(session, date.fromisoformat(argv[1]), date.fromisoformat(argv[2]), ["history"],
                             "parquet", Path(argv[3]))
        rows = sum(item.rows for item in written)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(*argv: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "bench.export", "--child", *argv], capture_output=True,
                            text=True, env=dict(os.environ), check=False)
    if result.returncode != 0:
        raise SystemExit(f"export child failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from sqlalchemy import text

    from darkhorses.db import session_scope
    from darkhorses.db.partitions import maintain_partitions
    total = args.days * args.rows_per_day
    with scratch_database() as _url:
        with session_scope() as session:
            maintain_partitions(session, 0, today=FIRST)  # the month's partition, as in production
        started = time.perf_counter()
        with session_scope() as session:
            session.execute(text(SEED), {"first": FIRST.isoformat(), "days": args.days, "total": total})
        print(f"seeded {total:,} history rows over {args.days} days in {time.perf_counter() - started:.1f} s")
        last = FIRST + timedelta(days=args.days - 1)
        with tempfile.TemporaryDirectory() as out:
            day = run_child("export", FIRST.isoformat(), FIRST.isoformat(), str(Path(out) / "day"))
            month = run_child("export", FIRST.isoformat(), last.isoformat(), str(Path(out) / "month"))
            archive = run_child("archive", FIRST.isoformat(), str(Path(out) / "archive"))
            size = sum(p.stat().st_size for p in (Path(out) / "month").iterdir()) / 1e6
        for name, figures in (("export 1 day", day), (f"export {args.days} days", month),
                              (f"archive {args.days} days", archive)):
            print(f"{name:<18} {figures['rows']:>10,} rows {figures['seconds']:7.1f} s "
                  f"{figures['rows'] / max(figures['seconds'], 1e-9):>9,.0f} rows/s "
                  f"peak RSS {figures['peak_rss_mb']:6.1f} MB")
        print(f"parquet: {size:.1f} MB for {total:,} rows ({size * 1e6 / max(total, 1):.1f} bytes a row)")
        ratio = month["peak_rss_mb"] / day["peak_rss_mb"]
        archive_ratio = archive["peak_rss_mb"] / day["peak_rss_mb"]
        print(f"peak RSS, month over day: export {ratio:.2f}x, archive {archive_ratio:.2f}x (target < {TARGET_RATIO})")
        expected_ok = month["rows"] == archive["rows"] == total
        print("PASS" if max(ratio, archive_ratio) < TARGET_RATIO and expected_ok else
              f"FAIL: ratio {max(ratio, archive_ratio):.2f}, rows {month['rows']:,}/{archive['rows']:,}/{total:,}")


if __name__ == "__main__":
    main()
