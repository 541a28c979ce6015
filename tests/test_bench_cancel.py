"""The cancel-latency benchmark at a tiny scale, so it cannot rot. No timing is asserted:
only that every trial's download stopped on both sides and no worker was left running."""

from __future__ import annotations

from benchmarks import cancel
from benchmarks.harness import Environment


def test_both_designs_stop_a_stalled_download_and_no_worker_is_left(bench_env: Environment) -> None:
    result = cancel.run(bench_env)

    [latency, left] = result.rows
    assert latency.baseline and latency.ours  # both sides measured every trial
    assert (left.ours, left.met) == ("0", True)
