"""The sync benchmark at a tiny scale, so it cannot rot. No timing is asserted: only that
both sides stored the same rows and that a re-sync writes only what is new."""

from __future__ import annotations

from benchmarks import sync
from benchmarks.harness import Environment


def test_both_sides_store_the_same_videos_in_the_same_places_and_a_resync_writes_only_the_new(
    bench_env: Environment,
) -> None:
    outcome = sync.sync_benchmark(bench_env, entries=500, others=1_000)

    # The same videos, positions (oldest first) and claim order, once each, on both sides.
    stored = outcome.ours.stored
    assert stored == outcome.baseline.stored
    assert [row[5] for row in stored] == list(range(510))
    assert [row[1] for row in stored] == [f"v{n:07d}" for n in range(510)]
    category = stored[0][7]
    assert all(row[6:8] == (True, category) for row in stored)  # waiting in the category's queue
    # A first store writes a video and a place per entry; a re-sync, per new entry only.
    assert [(s.new, s.rows_written) for s in outcome.baseline.first] == [(500, 1_000)]
    assert [(s.new, s.rows_written) for s in outcome.baseline.resyncs] == [(10, 20)]
    assert [(s.new, s.rows_written) for s in outcome.ours.first] == [(500, 1_000)] * 3
    assert [(s.new, s.rows_written) for s in outcome.ours.resyncs] == [
        *[(0, 0)] * 3,
        *[(10, 20)] * 3,
        (100, 200),
        (1_000, 2_000),
    ]
    # The first listing once more, stored as it is listed: 100 entries, 200, then the last 200.
    assert outcome.paged.pages == 3
    table = sync.result(outcome).table()
    assert "| storing 500 entries (entries/s) |" in table
    assert "| re-sync, 10 new of 510 (ms) |" in table
    assert "| first listing of 500: its first videos claimable after (ms) |" in table
