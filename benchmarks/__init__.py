"""Benchmarks: each runs its baseline in the same run, on the same machine (`nox -s bench`)."""
