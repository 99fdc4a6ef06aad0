"""Benchmarks: scripts and a harness that print numbers and ratios (never pass or fail on time).

`bench.py` (run by `atlas-qa bench`, or `python -m benchmarks.bench` from the checkout) measures atlas-qa beside bare
baselines; `backends.py`, `load.py`, `soak.py` and `followups.py` are scripts run on their own. The targets the
numbers are read against are in docs/performance.md, docs/deploy.md and docs/reliability.md.
"""
