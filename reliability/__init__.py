"""Pulse's reliability suite: faults injected into real runs, checked against the truth.

`python -m reliability` (`make reliability`) runs every scenario of
`reliability.scenarios` against the warehouse server (each in a database of its own)
and the local Socrata API, and prints one table (see outcome.py). The checks
(verify.py) are shared by every scenario: raw against the generator's ground truth,
duplicates in raw and the enriched model, the marts against a pandas computation.
"""
