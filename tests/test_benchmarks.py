"""The benchmarks' harness and the claim benchmark at a tiny scale, so they cannot rot.
No timing is asserted: only that both sides ran and what must hold whatever the speed."""

from __future__ import annotations

from benchmarks import claims
from benchmarks.__main__ import summary
from benchmarks.harness import Environment, Result, Row, percentile, write_section


def test_the_claim_benchmark_runs_both_claims_without_double_claims(bench_env: Environment) -> None:
    result = claims.run(bench_env)

    rows = {row.measure: row for row in result.rows}
    assert rows["videos claimed"].baseline == rows["videos claimed"].ours == "300"  # both drained it
    assert rows["double claims"].ours == rows["double claims"].baseline == "0"
    assert rows["serialization retries"].ours == "0" and rows["serialization retries"].met
    assert "| claims/s |" in result.table()


def test_a_report_section_is_replaced_in_place_and_others_are_kept() -> None:
    page = (
        "# P\n<!-- bench:a:start -->\nold a\n<!-- bench:a:end -->\n"
        "<!-- bench:b:start -->\nold b\n<!-- bench:b:end -->\nafter\n"
    )

    updated = write_section(page, "a", "new a")

    assert updated == page.replace("old a", "new a")
    assert (
        write_section("# P\n", "c", "new c") == "# P\n\n<!-- bench:c:start -->\nnew c\n<!-- bench:c:end -->\n"
    )


def test_a_partial_run_replaces_its_own_summary_rows_and_keeps_the_others() -> None:
    earlier = summary(
        [
            Result("a", "A", "", [Row("m", "1", "2", None, "t", True)]),
            Result("b", "B", "", [Row("n", "1", "2", None, "t", True), Row("o", "1", "2", None, "t", False)]),
            Result("c", "C", "", [Row("p", "1", "2", None, "t", True)]),
        ]
    )

    table = summary([Result("b", "B", "", [Row("n", "5", "6", None, "t", True)])], earlier)

    assert [line.split(" | ")[:3] for line in table.splitlines()[2:]] == [
        ["| A", "m", "1"],
        ["| B", "n", "5"],
        ["| C", "p", "1"],
    ]
    assert summary([Result("d", "D", "", [Row("q", "1", "2", None, "t", True)])], table).endswith(
        "| D | q | 1 | 2 |  | t | yes |"
    )


def test_the_summary_lists_every_measure_with_a_target() -> None:
    result = Result("k", "Title", "setup", [Row("m", "1", "20", 20.0, ">= 10x", True), Row("n", "1", "2")])

    table = summary([result])

    assert "| Title | m | 1 | 20 | 20.00x | >= 10x | yes |" in table
    assert "| n |" not in table


def test_percentiles_interpolate() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([5.0], 50) == 5.0
    assert percentile([float(n) for n in range(1, 101)], 50) == 50.5
