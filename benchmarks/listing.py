"""Listing: the first listing of a very large category, end to end into the store.

A synthetic RSS feed of N entries (/feed/<N>.xml) is streamed by a small HTTP server in the
benchmark's process, item by item from a counter (no file, no string per entry held),
newest first, each item as the content site's (title, guid, description, pubDate, an
enclosure naming a .mp4 on the same host) plus a link to a page. yt-dlp's generic
extractor (the service's FeedAwareGenericIE) reads it. Every measured run is a child process of its own
(`python -m benchmarks.listing`), which reports its time and its peak RSS (ru_maxrss);
each child first sets yt-dlp up as a worker process has (options.prepare and warm_up), so
the time is the listing's alone.

- Ours: what the syncer does for a first listing (pipeline._sync, on asyncio as in
  benchmarks/sync.py): ytdlp.list_category with the default page size, each page sanitized
  and stored by PipelineQueries.store_page as yt-dlp reads on, the rest by finish_sync, into
  a fresh scratch database per run (a store opened with the default settings: its 30 s
  statement timeout; no ANALYZE), timed from the listing's start to the last commit.
- The floor: the extractor's own unprocessed iteration, with the same GuardedYoutubeDL and
  options as list_category: extract_info(url, download=False, process=False) and its
  entries iterated, nothing else.
- The baseline: yt-dlp's processed listing (the old path), the same GuardedYoutubeDL and
  options (extract_flat "in_playlist"), extract_info(url, download=False): its duplicate
  check (orderedSet in YoutubeDL.__process_playlist) is quadratic, so it runs at two
  smaller sizes only. Ours and the floor run at those too (the curve), then at N.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.harness import Environment, Result, Row, inverse_ratio, ratio
from scheduler.db.connector import SQL
from scheduler.db.listing_queries import StoredPages
from scheduler.db.store import Store
from scheduler.pipeline import sanitize, ytdlp
from scheduler.pipeline.ytdlp.listing import list_category
from scheduler.pipeline.ytdlp.options import common_options, prepare, warm_up
from scheduler.pipeline.ytdlp.overrides import GuardedYoutubeDL
from scheduler.settings import from_overrides
from scheduler.work import ClaimedCategory

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
OWNER = "bench-listing"
MiB = 2**20
EPOCH = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())  # the oldest entry's pubDate; one minute apart
BATCH = 1_000  # items rendered per write
CHILD_TIMEOUT_S = 6 * 3600  # a hung child fails the benchmark instead of hanging it
VARIANTS = ("processed", "floor", "ours")
LABELS = {"processed": "yt-dlp's processed listing", "floor": "the extractor alone", "ours": "ours"}
MARKERS = {"processed": "P", "floor": "F", "ours": "O"}

# The feed, newest first. `{base}` is the server's URL, `{n}` the entry's number (0: oldest).
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Synthetic category of {size} entries</title>
    <link>{base}/feed/{size}.xml</link>
    <description>Generated for the listing benchmark</description>
"""
ITEM = """    <item>
      <title>Video v{n:07d}</title>
      <link>{base}/watch/v{n:07d}</link>
      <guid isPermaLink="false">v{n:07d}</guid>
      <description>About v{n:07d}.</description>
      <pubDate>{date}</pubDate>
      <enclosure url="{base}/videos/v{n:07d}.mp4" length="1000" type="video/mp4"/>
    </item>
"""
TAIL = """  </channel>
</rss>
"""
_FEED = re.compile(r"/feed/(\d+)\.xml$")


def feed_items(base: str, size: int) -> Iterator[bytes]:
    """The feed's XML for `size` entries, in pieces of BATCH items, newest first."""
    yield HEAD.format(size=size, base=base).encode()
    for top in range(size - 1, -1, -BATCH):
        items = (
            ITEM.format(base=base, n=n, date=email.utils.formatdate(EPOCH + 60 * n, usegmt=True))
            for n in range(top, max(top - BATCH, -1), -1)
        )
        yield "".join(items).encode()
    yield TAIL.encode()


class _FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no length needed

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        match = _FEED.match(self.path.split("?")[0])
        if match is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.end_headers()
        try:
            for piece in feed_items(self.server.url, int(match[1])):
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away


class FeedServer(ThreadingHTTPServer):
    """Serves /feed/<N>.xml, a feed of N entries made as it is sent."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__((HOST, 0), _FeedHandler)
        self.url = f"http://{HOST}:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, name="feed-server", daemon=True)

    def feed_url(self, size: int) -> str:
        return f"{self.url}/feed/{size}.xml"

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Run:
    """One child process's listing."""

    variant: str  # one of VARIANTS
    size: int  # the feed's entries
    entries: int  # entries the listing gave (ours: stored into the category)
    seconds: float  # from the listing's start to its end (ours: the last commit)
    peak_rss: int  # bytes, the child's ru_maxrss once the listing ended
    start_rss: int  # bytes, the same before the listing began (the interpreter and imports)
    error: str = ""  # why it did not complete ("" when it did)
    pages: int = 0  # ours: transactions (pages stored while listing, then finish_sync)
    first_page_s: float = 0.0  # ours: from the start to the first page committed
    longest_gap_s: float = 0.0  # ours: the longest stretch of the listing without a page committed
    in_order: bool = False  # ours: the category holds exactly v0000000 ... oldest first

    @property
    def completed(self) -> bool:
        return not self.error and self.entries == self.size

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Outcome:
    largest: int
    curve: tuple[int, ...]
    runs: list[Run]
    listing_timeout_s: float  # the syncer's: a listing with no page stored for this long is stopped
    page_entries: int  # the syncer's first page

    def run(self, variant: str, size: int) -> Run | None:
        return next((r for r in self.runs if r.variant == variant and r.size == size), None)


def measure(variant: str, feed_url: str, size: int, dsn: str = "") -> Run:
    """One listing in a child process of its own."""
    command = [sys.executable, "-m", "benchmarks.listing", variant, feed_url, str(size), dsn]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=os.environ.copy()
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} listing of {size} failed ({done.returncode}): {done.stderr[-2000:]}")
    return Run(**json.loads(lines[-1]))


def listing_benchmark(env: Environment, largest: int, curve: tuple[int, ...]) -> Outcome:
    runs = []
    with FeedServer() as server:
        for size in (*curve, largest):
            url = server.feed_url(size)
            if size in curve:
                runs.append(measure("processed", url, size))
            runs.append(measure("floor", url, size))
            with env.scratch_database("listing") as dsn:
                runs.append(measure("ours", url, size, dsn))
            done = ", ".join(f"{r.variant} {r.seconds:.1f} s" for r in runs if r.size == size)
            print(f"   {size:,} entries: {done}", flush=True)
    settings = from_overrides({})
    return Outcome(largest, curve, runs, settings.downloader.timeout_s, settings.sync.page_entries)


# The child's side: python -m benchmarks.listing VARIANT FEED_URL SIZE [DSN]


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def _child_listing(variant: str, url: str, size: int) -> dict[str, Any]:
    """The floor or the baseline: yt-dlp alone, set up as list_category sets it up."""
    settings = from_overrides({}).downloader
    prepare(settings)
    warm_up()
    options = common_options(settings) | {"extract_flat": "in_playlist", "noplaylist": False}
    start_rss = _rss()
    start = time.perf_counter()
    entries = 0
    with GuardedYoutubeDL(options, (HOST,)) as ydl:
        if variant == "floor":
            result = ydl.extract_info(url, download=False, process=False)
            assert result.get("_type") == "playlist", result.get("_type")
            for entry in result["entries"]:
                entries += isinstance(entry, dict)
        else:
            result = ydl.extract_info(url, download=False)
            entries = sum(isinstance(entry, dict) for entry in result["entries"])
    seconds = time.perf_counter() - start
    return {"entries": entries, "seconds": seconds, "peak_rss": _rss(), "start_rss": start_rss}


# The category the syncer claims: subscribed, due.
CATEGORY = """
INSERT INTO categories (url, website, kind, subscriber_count, next_sync_at)
VALUES ($1, $2, 'url', 1, now()) RETURNING id
"""
# The category's entries by place, oldest first: how many, and whether they are v0000000 on.
STORED = """
SELECT count(*) AS stored,
       coalesce(bool_and(foreign_id = 'v' || lpad((n - 1)::text, 7, '0')), false) AS in_order
FROM (
    SELECT v.foreign_id, row_number() OVER (ORDER BY cv.position) AS n
    FROM category_videos cv JOIN videos v ON v.id = cv.video_id
    WHERE cv.category_id = $1
) AS placed
"""


async def _child_ours(url: str, size: int, dsn: str) -> dict[str, Any]:
    """The syncer's first listing (pipeline._sync), on asyncio: the listing in a thread,
    each page stored as yt-dlp hands it over, the rest at its end."""
    settings = from_overrides({})
    prepare(settings.downloader)
    warm_up()
    lease_s = settings.downloader.timeout_s + settings.schedule.lease_s  # the syncer's
    conn = await asyncpg.connect(dsn)
    store = await Store.open(
        dsn,
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        statement_timeout_s=settings.database.statement_timeout_s,
    )
    try:
        category_id = await conn.fetchval(CATEGORY, url, HOST)
        category = ClaimedCategory.from_row(await conn.fetchrow(SQL["claim_category"], OWNER, lease_s, []))
        assert category.id == category_id and category.sync_count == 0
        queries = store.pipeline(OWNER)
        loop = asyncio.get_running_loop()
        stored, committed = StoredPages(), []

        def cleaned(listing: ytdlp.Listing) -> tuple[list[Any], list[str]]:  # pipeline._cleaned
            videos = [v for v in map(sanitize.clean_listed, listing.videos) if v is not None]
            return videos, [sanitize.clean_text(r, 500) for r in listing.refused]

        def store_page(page: ytdlp.Listing) -> None:  # in the listing's thread
            videos, refused = cleaned(page)
            future = asyncio.run_coroutine_threadsafe(
                queries.store_page(category, videos, refused, lease_s), loop
            )
            new = future.result()
            if new is None:
                raise RuntimeError("the lease was lost")
            stored.listed, stored.new = stored.listed + len(videos), stored.new + new
            stored.refused += len(refused)
            committed.append(time.perf_counter())

        error = ""
        start_rss = _rss()
        start = time.perf_counter()
        listed = start
        try:
            rest = await loop.run_in_executor(
                None,
                lambda: list_category(
                    url,
                    category.website,
                    settings.downloader,
                    (HOST,),
                    on_page=store_page,
                    page_entries=settings.sync.page_entries,
                ),
            )
            listed = time.perf_counter()
            videos, refused = cleaned(rest)
            outcome = await queries.finish_sync(
                category,
                videos,
                refused,
                min_backoff_s=settings.sync.min_backoff_s,
                max_backoff_factor=settings.sync.max_backoff_factor,
                earlier=stored,
            )
            if outcome is None:
                error = "the lease was lost"
        except Exception as failure:
            error = _one_line(failure)
        end = time.perf_counter()
        peak_rss = _rss()
        # The listing's timeout (pipeline._sync) counts from its start, then from each page stored.
        marks = [start, *committed, listed if not error else end]
        result = await conn.fetchrow(STORED, category.id)
        return {
            "entries": result["stored"],
            "seconds": end - start,
            "peak_rss": peak_rss,
            "start_rss": start_rss,
            "error": error,
            "pages": len(committed) + (not error),
            "first_page_s": (committed[0] if committed else end) - start,
            "longest_gap_s": max(b - a for a, b in itertools.pairwise(marks)),
            "in_order": result["in_order"] and result["stored"] == size,
        }
    finally:
        await store.close()
        await conn.close()


def child(variant: str, url: str, size: int, dsn: str) -> dict[str, Any]:
    done = (
        asyncio.run(_child_ours(url, size, dsn)) if variant == "ours" else _child_listing(variant, url, size)
    )
    return {"variant": variant, "size": size} | done


# The report.


def _mib(n: int) -> str:
    return f"{n / MiB:,.0f}"


def _growth(first: Run | None, second: Run | None) -> str:
    """k in time ~ N^k between two sizes: 1 is linear, 2 quadratic."""
    if not first or not second or first.seconds <= 0 or second.seconds <= 0 or first.size == second.size:
        return "-"
    return f"{math.log(second.seconds / first.seconds) / math.log(second.size / first.size):.2f}"


def _seconds(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def ascii_plot(series: dict[str, list[tuple[int, float]]], width: int = 60, height: int = 16) -> str:
    """Points (entries, seconds) of each series on log-log axes, a letter per series
    (MARKERS, "*" where two meet)."""
    points = [(x, y, MARKERS[name]) for name, xy in series.items() for x, y in xy if x > 0 and y > 0]
    if not points:
        return ""
    (x0, x1), (y0, y1) = ((min(v), max(v)) for v in zip(*((x, y) for x, y, _ in points), strict=True))
    grid = [[" "] * width for _ in range(height)]

    def scale(value: float, low: float, high: float, cells: int) -> int:
        if high <= low:
            return 0
        return round((math.log(value) - math.log(low)) / (math.log(high) - math.log(low)) * (cells - 1))

    for x, y, marker in points:
        column, row = scale(x, x0, x1, width), height - 1 - scale(y, y0, y1, height)
        grid[row][column] = marker if grid[row][column] in (" ", marker) else "*"
    labels = {0: f"{_seconds(y1)} s", height - 1: f"{_seconds(y0)} s"}
    margin = max(len(label) for label in labels.values())
    lines = [f"{labels.get(n, ''):>{margin}} |{''.join(row).rstrip()}" for n, row in enumerate(grid)]
    lines.append(f"{'':>{margin}} +{'-' * width}")
    left, right = f"{x0:,}", f"{x1:,} entries"
    lines.append(f"{'':>{margin}}  {left}{right:>{width - len(left)}}")
    legend = ", ".join(f"{MARKERS[name]} {LABELS[name]}" for name in series)
    lines.append(f"{'':>{margin}}  log-log: {legend}; * where two meet")
    return "\n".join(lines)


def notes(outcome: Outcome) -> str:
    sizes = [*outcome.curve, outcome.largest]
    lines = [
        "Each listing by size: seconds and peak RSS (MiB), each run in a process of its own.",
        "",
        "| entries | processed (s) | floor (s) | ours (s) | processed (MiB) | floor (MiB) | ours (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        runs = [outcome.run(variant, size) for variant in VARIANTS]
        seconds = [f"{r.seconds:,.1f}" + ("" if r.completed else " (failed)") if r else "" for r in runs]
        rss = [_mib(r.peak_rss) if r else "" for r in runs]
        lines.append(f"| {size:,} | {' | '.join(seconds)} | {' | '.join(rss)} |")
    small, large = outcome.curve[0], outcome.curve[-1]
    growth = []
    for variant in VARIANTS:
        first, second, last = (outcome.run(variant, size) for size in (small, large, outcome.largest))
        beyond = f" ({large:,} to {outcome.largest:,}: {_growth(second, last)})" if last else ""
        growth.append(f"{LABELS[variant]} {_growth(first, second)}{beyond}")
    lines += [
        "",
        f"Growth k (time ~ N^k: 1 linear, 2 quadratic), {small:,} to {large:,}: {'; '.join(growth)}.",
    ]
    series = {
        variant: [(r.size, r.seconds) for r in outcome.runs if r.variant == variant and r.completed]
        for variant in VARIANTS
    }
    return "\n".join([*lines, "", "```", ascii_plot(series), "```"])


def result(outcome: Outcome) -> Result:
    n, large = outcome.largest, outcome.curve[-1]
    floor, ours = outcome.run("floor", n), outcome.run("ours", n)
    processed, ours_large = outcome.run("processed", large), outcome.run("ours", large)
    assert floor and ours and processed and ours_large
    within = ours.completed and ours.seconds <= 1.5 * floor.seconds
    done = "yes" if ours.completed else f"no: {ours.error or f'{ours.entries:,} of {n:,} stored'}"
    rows = [
        Row(
            f"first listing of {n:,} into the store (entries/s)",
            f"{floor.rate:,.0f} (floor)",
            f"{ours.rate:,.0f}" if ours.completed else "failed",
            ratio(floor.rate, ours.rate) if ours.completed else None,
            "within 1.5x of the floor's time",
            within,
        ),
        Row(
            f"first listing of {n:,}: seconds",
            f"{floor.seconds:,.1f} (floor)",
            f"{ours.seconds:,.1f}",
            inverse_ratio(floor.seconds, ours.seconds),
        ),
        Row(
            f"first listing of {n:,}: completed; rows; transactions",
            "",
            f"{done}; {ours.entries:,} stored{', in order' if ours.in_order else ''}; {ours.pages}",
        ),
        Row(
            f"first listing of {n:,}: first page stored; longest wait for a page (s)",
            "",
            f"{ours.first_page_s:,.1f}; {ours.longest_gap_s:,.1f} (the syncer stops at "
            f"{outcome.listing_timeout_s:,.0f})",
        ),
        Row(
            f"first listing of {large:,} (entries/s)",
            f"{processed.rate:,.0f} (processed)",
            f"{ours_large.rate:,.0f}" if ours_large.completed else "failed",
            ratio(processed.rate, ours_large.rate) if ours_large.completed else None,
        ),
        Row(
            f"peak RSS, first listing of {n:,} (MiB)",
            f"{_mib(floor.peak_rss)} (floor)",
            _mib(ours.peak_rss),
            inverse_ratio(floor.peak_rss, ours.peak_rss),
        ),
        Row(
            f"peak RSS, first listing of {large:,} (MiB)",
            f"{_mib(processed.peak_rss)} (processed)",
            _mib(ours_large.peak_rss),
            inverse_ratio(processed.peak_rss, ours_large.peak_rss),
        ),
        Row("RSS before listing, each process (MiB)", "", _mib(max(r.start_rss for r in outcome.runs))),
    ]
    return Result(
        key="listing",
        title="Listing: a first listing of a large category",
        setup=(
            f"A synthetic {n:,}-entry RSS feed, made as it is sent by a server in the benchmark's "
            "process, listed by yt-dlp's generic extractor in a child process per run. Ours: the "
            "syncer's first listing (list_category, its default pages: "
            f"{outcome.page_entries} entries, then twice as many each page, stored by store_page "
            "as yt-dlp reads on, the rest by finish_sync) into a fresh scratch database, the "
            "default statement timeout, no ANALYZE; timed to the last commit. The floor: the "
            "extractor's own entries (extract_info with process=False), iterated, nothing else. "
            "The baseline: yt-dlp's processed listing (extract_info, extract_flat), at "
            f"{' and '.join(f'{s:,}' for s in outcome.curve)} entries only (it is quadratic); "
            "ours and the floor there too, for the curve."
        ),
        rows=rows,
        notes=notes(outcome),
    )


def run(env: Environment) -> Result:
    largest = int(env.pick(300, 20_000, 500_000))
    curve = (int(env.pick(100, 5_000, 25_000)), int(env.pick(200, 10_000, 50_000)))
    return result(listing_benchmark(env, largest, curve))


if __name__ == "__main__":
    variant, feed, size, dsn = (*sys.argv[1:], "")[:4]
    if variant not in VARIANTS:
        sys.exit(f"usage: python -m benchmarks.listing {{{','.join(VARIANTS)}}} FEED_URL SIZE [DSN]")
    print(json.dumps(child(variant, feed, int(size), dsn)))
