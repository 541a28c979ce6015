"""The listing benchmark at a tiny scale, so it cannot rot. No timing is asserted: only that
every variant listed the whole synthetic feed in its own process and that ours stored it,
every entry once and oldest first."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.request import urlopen

from benchmarks import listing
from benchmarks.harness import Environment


def test_the_synthetic_feed_lists_its_entries_newest_first_each_enclosing_a_video() -> None:
    with listing.FeedServer() as server, urlopen(server.feed_url(2_500), timeout=10) as response:
        items = ET.fromstring(response.read()).findall("./channel/item")

    assert [item.findtext("guid") for item in items] == [f"v{n:07d}" for n in reversed(range(2_500))]
    enclosure = items[0].find("enclosure")
    assert enclosure is not None
    assert enclosure.get("url") == f"{server.url}/videos/v0002499.mp4"
    assert items[-1].findtext("pubDate") == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_every_variant_lists_the_feed_and_ours_stores_it_in_order(bench_env: Environment) -> None:
    outcome = listing.listing_benchmark(bench_env, largest=300, curve=(100, 200))

    sizes = {(run.variant, run.size) for run in outcome.runs}
    assert sizes == {("processed", 100), ("processed", 200)} | {
        (variant, size) for variant in ("floor", "ours") for size in (100, 200, 300)
    }
    for run in outcome.runs:
        assert run.completed and run.entries == run.size, run
        assert 0 < run.start_rss <= run.peak_rss, run
    for run in (r for r in outcome.runs if r.variant == "ours"):
        assert run.in_order, run
        assert run.pages == 2 + (run.size >= 300), run  # 100 entries, then 200, then finish_sync
        assert 0 < run.first_page_s <= run.seconds and run.longest_gap_s <= run.seconds, run

    result = listing.result(outcome)
    table = result.table()
    assert "| first listing of 300 into the store (entries/s) |" in table
    assert "| peak RSS, first listing of 300 (MiB) |" in table
    assert (
        "| first listing of 300: completed; rows; transactions |  | yes; 300 stored, in order; 3 |" in table
    )
    assert "| 200 | " in result.notes and "```" in result.notes  # the curve: its figures, then the plot
    assert result.section("cmd", "machine", "date").endswith(f"{table}\n\n{result.notes}")
