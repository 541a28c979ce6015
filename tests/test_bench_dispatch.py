"""The dispatch benchmark at the tiny scale, so it cannot rot. No timing is asserted: only
that every video made due was started by a downloader in all three configurations."""

from __future__ import annotations

from benchmarks import dispatch
from benchmarks.harness import Environment


def test_every_video_made_due_is_started_in_all_three_configurations(bench_env: Environment) -> None:
    result = dispatch.run(bench_env)

    rows = {row.measure: row for row in result.rows}
    started = rows["videos started / made due"]
    assert started.baseline == "6/6"
    assert started.ours == "6/6 (NOTIFY off: 6/6)"
    assert rows["due → started, p95"].target == "p95 < 250 ms"
    assert rows["NOTIFY off (poll 1 s): max"].target.startswith("max <= poll interval")
    assert all(row.met is not None for row in result.rows if row.target)
    [chart] = result.charts
    assert chart == bench_env.charts / "dispatch.png" and chart.stat().st_size > 0
