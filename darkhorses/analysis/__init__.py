"""For the analyst: Rule 4 deductions and settlement (rule4.py), fractional prices
(fractions.py), non-runners from the results (non_runners.py), and the data out of the
database: exports per day (export.py) and the history archive before retention (archive.py).

Below historical (which stores the parsed non-runners) and ops (which counts them in the
health report); above db and models.
"""
