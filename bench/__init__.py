"""Benchmarks: runnable scripts that print their figures and the ratio to a baseline measured
in the same run. Run them from the repository root as modules, e.g.
`.venv/bin/python -m bench.year --days 365`."""
