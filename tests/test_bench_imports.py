"""The imports benchmark at a tiny scale, so it cannot rot. No timing is asserted: only
that both sides stored every line and the report has its rows."""

from __future__ import annotations

from benchmarks import imports
from benchmarks.harness import Environment


def test_both_sides_import_every_line(bench_env: Environment) -> None:
    result = imports.run(bench_env)  # run() checks that each side stored every line

    table = result.table()
    assert "| lines per second |" in table and "| import of every line (s) |" in table
