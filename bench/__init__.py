"""Rounds' benchmarks: each module measures one thing against a baseline run side by side.

`python -m bench` (or `make bench`) runs them all and rewrites bench/RESULTS.md; none of
this runs under `make test`.
"""
