"""scheduler.pipeline.phases: a delivery's stopwatch, on a clock the test turns."""

from __future__ import annotations

import pytest

from scheduler.pipeline.phases import Phases, parse


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def delivery(clock: Clock) -> Phases:
    """A delivery as the downloader times it: 2 ms of claim share, then each phase."""
    phases = Phases(0.002, clock)
    clock.advance(0.001)
    phases.started()
    steps = [("lock", 0.003), ("exists", 0.0005), ("progress", 0.002), ("download", 1.5), ("progress", 0.002)]
    for name, seconds in [*steps, ("upload", 0.04)]:
        with phases.timing(name):
            clock.advance(seconds)
        clock.advance(0.001)  # between phases: the work directory, threads' hand-offs
    with phases.timing("record"):
        clock.advance(0.004)
    with phases.timing("unlock"):
        clock.advance(0.0005)
    phases.stop()
    clock.advance(10)  # after stop: not counted
    return phases


def test_phases_partition_the_delivery() -> None:
    times = delivery(Clock()).as_dict()
    expected = {
        "claim": 0.002,
        "wait": 0.001,
        "lock": 0.003,
        "exists": 0.0005,
        "progress": 0.004,
        "download": 1.5,
        "upload": 0.04,
        "record": 0.004,
        "unlock": 0.0005,
        "other": 0.006,
    }
    assert list(times) == [*expected, "total", "overhead", "own"]
    assert times["total"] == pytest.approx(sum(expected.values()))
    # Overhead: claim, wait, lock, record, unlock. Own: all but exists, download, upload.
    assert times == pytest.approx(expected | {"total": 1.561, "overhead": 0.0105, "own": 0.0205})


def test_a_phase_that_raises_is_still_timed_and_repeats_add_up() -> None:
    clock = Clock()
    phases = Phases(clock=clock)
    with pytest.raises(RuntimeError), phases.timing("upload"):
        clock.advance(0.5)
        raise RuntimeError
    with phases.timing("upload"):
        clock.advance(0.25)
    assert phases.durations["upload"] == pytest.approx(0.75)
    # Not stopped: the total runs on; nothing was outside a phase.
    assert phases.total_s == pytest.approx(0.75)
    assert phases.other_s == pytest.approx(0.0)
    assert phases.overhead_s == phases.own_s == pytest.approx(0.0)
    clock.advance(0.25)
    assert (phases.total_s, phases.other_s, phases.own_s) == pytest.approx((1.0, 0.25, 0.25))


def test_an_existing_video_has_no_transfers() -> None:
    clock = Clock()
    phases = Phases(0.001, clock)
    phases.started()
    with phases.timing("exists"):
        clock.advance(0.002)
    phases.stop()
    assert phases.as_dict() == pytest.approx(
        {"claim": 0.001, "wait": 0.0, "exists": 0.002, "other": 0.0, "total": 0.003, "overhead": 0.001}
        | {"own": 0.001}
    )


def test_the_summary_reads_back() -> None:
    phases = delivery(Clock())
    summary = phases.summary()
    assert summary == (
        "in 1.56 s (claim 2.0 ms, wait 1.0 ms, lock 3.0 ms, exists 0.5 ms, progress 4.0 ms, download 1.50 s, "
        "upload 40.0 ms, record 4.0 ms, unlock 0.5 ms, other 6.0 ms; overhead 10.5 ms, own 20.5 ms)"
    )
    line = (
        f"2024-01-01 00:00:00 INFO scheduler.pipeline.downloader: video 7: delivered as x/y {summary}"
        " instance=host-1-abc video_id=7 website=example.com"  # the line's context follows
    )
    parsed = parse(line)
    assert parsed is not None
    assert parsed == pytest.approx(phases.as_dict(), abs=0.005)  # as rounded in the text
    assert (parsed["overhead"], parsed["own"]) == pytest.approx((0.0105, 0.0205))
    assert parse("video 7: claimed") is None
