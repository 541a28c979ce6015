"""The API-under-load benchmark at a tiny scale, so it cannot rot. No timing is asserted:
only that both sides ran in full and what must hold whatever the speed."""

from __future__ import annotations

from benchmarks import api_load
from benchmarks.harness import Environment


def test_the_api_load_benchmark_runs_every_side_and_delivers_each_video_once(bench_env: Environment) -> None:
    result = api_load.run(bench_env)

    rows = {row.measure: row for row in result.rows}
    categories = int(bench_env.pick(20, 200, 1_000))
    feed = api_load.scale_of(bench_env).feed
    # Both ListCategories listed every one of the big user's categories.
    listed = rows["categories per ListCategories answer"]
    assert (listed.baseline, listed.ours) == (str(categories), str(categories))
    p99 = rows["ListCategories p99 under load (ms)"]
    assert float(p99.baseline) > 0 and float(p99.ours) > 0 and p99.target == "< 50 ms"
    for method in api_load.METHODS:
        assert float(rows[f"{method} under load: requests/s, p50 / p99 (ms)"].ours.split("/s")[0]) > 0
    capacity = next(row for row in result.rows if row.measure.startswith("capacity"))
    assert all(f"{method} " in capacity.ours for method in api_load.METHODS)
    # Every video of the feed delivered exactly once (recorded, a file each, none failed), every run.
    delivered = rows["feed delivered per run (recorded, files, failed)"].ours
    assert delivered == " / ".join([f"{feed}, {feed}, 0"] * len(api_load.ORDER))
    assert rows["RPC errors (under load, back to back)"].ours == "0, 0"
    assert rows["videos delivered/s, without load -> under load (each run)"].target == "within 10 %"
    assert [chart.name for chart in result.charts] == ["api_load.png"] and result.charts[0].exists()
