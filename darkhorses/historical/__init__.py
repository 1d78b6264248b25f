"""Results of finished races: collecting a UK date, mapping results to rows, returns at SP, the
per-date ledger that makes collection resumable, and backfill planning."""
