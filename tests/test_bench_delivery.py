"""The delivery and scale-out benchmarks at a tiny scale, so they cannot rot. No speed is
asserted (it depends on the machine): only that every side ran, every video arrived
exactly once and whole, and the rows are there."""

from __future__ import annotations

from benchmarks import delivery, scaleout
from benchmarks.harness import Environment, Result, Row


def rows(result: Result) -> dict[str, Row]:
    return {row.measure: row for row in result.rows}


def test_delivery_every_side_delivers_every_video_once(bench_env: Environment) -> None:
    result = delivery.run(bench_env)

    by_measure = rows(result)
    assert list(by_measure) == [
        "videos/s (baseline: 7 parallel yt-dlp)",
        "videos/s (baseline: sequential yt-dlp)",
        "MB/s (baseline: 7 parallel yt-dlp)",
        "service overhead per video, p50 (ms)",
        "service overhead per video, p95 (ms)",
        "service's own time per video, p50 / p95 (ms)",
        "service process RSS, 1 videos done -> all 10 (MiB)",
        "delivered exactly once, whole",
    ]
    once = by_measure["delivered exactly once, whole"]
    assert (once.baseline, once.ours, once.met) == ("sequential 10/10, parallel 10/10", "10/10", True)
    for measure in ("videos/s (baseline: 7 parallel yt-dlp)", "videos/s (baseline: sequential yt-dlp)"):
        row = by_measure[measure]
        assert float(row.baseline) > 0 and float(row.ours) > 0 and row.ratio is not None
    assert float(by_measure["service overhead per video, p95 (ms)"].ours) > 0
    assert by_measure["service overhead per video, p95 (ms)"].met is not None
    assert [chart.name for chart in result.charts] == ["delivery.png"] and result.charts[0].exists()


def test_delivery_reads_each_videos_phases_from_the_log(bench_env: Environment) -> None:
    with delivery.feed(3, 50_000) as served:
        ran = delivery.deliver(bench_env, served, bench_env.work / "ours", 1, 2, 60)
        assert ran.exactly_once(served)
    assert sorted(ran.delivered[0]) == served.ids
    for times in ran.phases:
        assert times["download"] > 0 and times["record"] > 0
        assert times["own"] >= times["overhead"] > 0
        assert (
            abs(times["total"] - sum(v for k, v in times.items() if k not in ("total", "overhead", "own")))
            < 0.01
        )


def test_scaleout_delivers_every_video_once_from_two_instances(bench_env: Environment) -> None:
    result = scaleout.run(bench_env)

    by_measure = rows(result)
    assert list(by_measure) == [
        "videos/s (baseline: 1 instance; ours: 2)",
        "ideal videos/s (workers x rate / size)",
        "service overhead per video, p50 / p95 (ms)",
        "videos delivered by each instance",
        "duplicates (fetched or delivered twice)",
        "delivered exactly once (sink, previous_downloads, logs)",
    ]
    duplicates = by_measure["duplicates (fetched or delivered twice)"]
    assert (duplicates.baseline, duplicates.ours, duplicates.met) == ("0", "0", True)
    once = by_measure["delivered exactly once (sink, previous_downloads, logs)"]
    assert (once.baseline, once.ours, once.met) == ("12/12", "12/12", True)
    each = by_measure["videos delivered by each instance"]
    assert each.baseline == "12" and sum(map(int, each.ours.split(" + "))) == 12
    speed = by_measure["videos/s (baseline: 1 instance; ours: 2)"]
    assert float(speed.baseline) > 0 and float(speed.ours) > 0 and speed.ratio is not None
