"""The memory benchmark at a tiny scale, so it cannot rot. No RSS figure is asserted (they
depend on the machine): only that every run delivered its videos whole and was sampled."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks import memory
from benchmarks.harness import Environment


def test_every_run_delivers_its_videos_whole_while_it_is_sampled(bench_env: Environment) -> None:
    runs = memory.collect(bench_env)

    assert set(runs.single) == {(sink, size) for sink in memory.SINKS for size in (runs.small, runs.large)}
    assert runs.concurrent.videos == memory.CONCURRENT
    for delivery in runs.all():
        # Bytes identical in the directory and at the fake Horahora; the whole size at the HTTP fake.
        assert delivery.intact == delivery.videos, delivery
        assert len(delivery.samples) >= 5, delivery  # from the start to the delivery
        assert [t for t, *_ in delivery.samples] == sorted(t for t, *_ in delivery.samples)
        assert 0 < delivery.idle_rss <= delivery.peak
        assert delivery.samples[0][0] < delivery.given_at < delivery.samples[-1][0]
    assert runs.ytdlp_peak > 0
    assert not list(bench_env.work.glob("memory-*")), "a run left its data directory behind"

    result = memory.report(bench_env, runs)

    measures = {row.measure for row in result.rows}
    assert {f"growth 4 MiB -> 32 MiB, {sink} (the service process)" for sink in memory.SINKS} <= measures
    assert {
        "peak RSS, process tree, 7 x 4 MiB at once, horahora",
        "peak RSS, process tree, any run",
    } <= measures
    assert "peak RSS, the service process alone, 7 at once" in measures
    assert [chart.name for chart in result.charts] == ["memory.png"] and result.charts[0].exists()


def test_disk_use_counts_a_hard_linked_file_once(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "video.mp4").write_bytes(b"x" * 1000)
    os.link(tmp_path / "work" / "video.mp4", tmp_path / "video.mp4")
    (tmp_path / "info.json").write_bytes(b"{}")
    assert memory.disk_use(tmp_path) == 1002
