"""End-to-end delivery: a local feed into the directory sink, ours against the yt-dlp command line.

The content site (tests/content_site.py) serves a feed of N videos of S bytes each. Three
sides download all of it, one after the other, in the same run: the yt-dlp command line
over the feed's URL (one process, sequential), seven yt-dlp processes each over its share
of the video URLs, and ours: `scheduler serve` (7 downloader workers, the directory
sink, a scratch database, Redis) subscribed to the feed through the gRPC API, timed from
the subscription until every video is done. The command lines write the info JSON too,
as ours does; ours also copies each video into the sink and fsyncs it there.

Ours logs one line per delivered video with its phases (scheduler/pipeline/phases.py),
and the service's time per video is read from those lines: its overhead (its share of
the claim statement, the wait for a downloader, the lock, the record with its event, the
lock's release) and all its own time (everything but yt-dlp's and the sink's calls). The
service process's own RSS (yt-dlp runs in its worker processes) is read as the videos
are done, to show it flat.
`deliver` (also used by benchmarks/scaleout.py) runs one or more `serve` processes on one
database and checks what reached the sink.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
from grpclib.client import Channel

from benchmarks.harness import Environment, Result, Row, percentile, ratio
from scheduler.pipeline import phases
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.content_site import ContentSite, content_site
from tests.support import REPO, clean_environment, free_port, scheduler_command

PROCESSES = 7  # the parallel command lines, and our downloader workers
YTDLP = [sys.executable, "-m", "yt_dlp", "--quiet", "--no-warnings", "--no-progress", "--write-info-json"]
MB = 1e6
MiB = 2**20
# The service process's own RSS across the run (issue 20: flat; yt-dlp is in its workers).
RSS_GROWTH_LIMIT = 5 * MiB
# The pipeline's line for a delivered video (its website/foreign id are safe names here).
DELIVERED = re.compile(
    r"video \d+: delivered to the Video Service as [^/\s]+/(?P<id>\S+)(?: \(no thumbnail anywhere\))? in "
)


@dataclass(frozen=True)
class Feed:
    site: ContentSite
    ids: list[str]
    size: int
    url: str

    @property
    def video_urls(self) -> list[str]:
        return [self.site.video(v).url for v in self.ids]

    def whole_fetches(self) -> dict[str, int]:
        """How many times the site sent each video's whole body. (yt-dlp's extractor first
        reads a video's first bytes and hangs up; under a rate cap that is long before the
        body is out, so only downloads count.)"""
        paths = {self.site.video(v).path: v for v in self.ids}
        counts = dict.fromkeys(self.ids, 0)
        self.site.wait_idle()
        for request in list(self.site.requests):
            if request.method == "GET" and request.path in paths and request.sent == self.size:
                counts[paths[request.path]] += 1
        return counts


@contextmanager
def feed(count: int, size: int, rate: float | None = None) -> Iterator[Feed]:
    """A content site serving one feed of `count` videos of `size` bytes. Their ids are
    unique to this call, so runs sharing a Redis never share a lock."""
    tag = uuid.uuid4().hex[:6]
    with content_site() as site:
        site.set_rate(rate)
        ids = [f"{tag}-{i:05d}" for i in range(count)]
        for video_id in ids:
            site.add_video(video_id, size=size)
        yield Feed(site, ids, size, site.feed(f"bench-{tag}", ids))


# The command lines.


def cli_sequential(feed: Feed, out: Path) -> float:
    """Seconds for one yt-dlp process to download the whole feed into `out`."""
    started = time.perf_counter()
    subprocess.run([*YTDLP, "-o", f"{out}/%(id)s.%(ext)s", feed.url], check=True, capture_output=True)
    return time.perf_counter() - started


def cli_parallel(feed: Feed, out: Path, processes: int = PROCESSES) -> float:
    """Seconds for `processes` yt-dlp processes, each over its share of the video URLs."""
    urls = feed.video_urls
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [*YTDLP, "-o", f"{out}/%(id)s.%(ext)s", *urls[k::processes]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for k in range(processes)
    ]
    for process in running:
        _, errors = process.communicate()
        if process.returncode:
            raise RuntimeError(f"yt-dlp exited with {process.returncode}: {errors.decode()[-2000:]}")
    return time.perf_counter() - started


def cli_files(out: Path) -> dict[str, list[int]]:
    """The command line's videos in `out` (id -> sizes, one per file); then removes `out`."""
    files: dict[str, list[int]] = {}
    for path in out.glob("*.mp4"):
        files.setdefault(path.stem, []).append(path.stat().st_size)
    shutil.rmtree(out)
    return files


# Ours.


@dataclass
class Delivery:
    """One run of ours: how long, what each instance logged, what reached the sink."""

    elapsed_s: float
    phases: list[dict[str, float]]  # one per delivered-video log line, every instance's
    delivered: list[list[str]]  # per instance: the foreign ids its log says it delivered
    sink: dict[str, list[int]]  # foreign id -> video file sizes in the directory sink
    recorded: int  # previous_downloads rows
    recorded_videos: int  # distinct videos among them
    failed_attempts: int  # sum of videos.attempts: a second upload would fail one
    # The first instance's own process (not its yt-dlp workers): (videos done, its RSS).
    service_rss: list[tuple[int, int]]

    def rss_growth(self) -> tuple[int, int]:
        """The service process's RSS once a tenth of the videos were done, and at the end:
        what its own bookkeeping keeps grows between them, the warm-up is before."""
        total = self.service_rss[-1][0]
        start = next(rss for done, rss in self.service_rss if done >= total // 10)
        return start, self.service_rss[-1][1]

    def deliveries(self) -> Counter[str]:
        return Counter(v for instance in self.delivered for v in instance)

    def problems(self, feed: Feed) -> list[str]:
        """What keeps this from "every video delivered by one log line, recorded once, in
        the sink once and whole, and no attempt failed"; empty when nothing does."""
        found = []
        if (lines := len(self.phases)) != len(feed.ids):
            found.append(f"{lines} delivered-video lines")
        if (delivered := self.deliveries()) != Counter(feed.ids):
            found.append(f"{len(delivered)} videos in {delivered.total()} delivered-to lines")
        if not self.recorded == self.recorded_videos == len(feed.ids):
            found.append(f"{self.recorded} deliveries recorded for {self.recorded_videos} videos")
        if wrong := {v for v in set(feed.ids) | set(self.sink) if self.sink.get(v) != [feed.size]}:
            found.append(f"{len(wrong)} videos missing, twice or cut short in the sink")
        if self.failed_attempts:
            found.append(f"{self.failed_attempts} failed attempts")
        return found

    def exactly_once(self, feed: Feed) -> bool:
        return not self.problems(feed)


def serve_environment(dsn: str, redis_url: str, data_dir: Path, sink: Path, workers: int) -> dict[str, str]:
    return clean_environment(
        SCHEDULER_DATA_DIR=str(data_dir),
        SCHEDULER_DATABASE__URL=dsn,
        SCHEDULER_DATABASE__MIGRATE_ON_START="false",  # the scratch database is migrated
        SCHEDULER_REDIS__URLS=json.dumps([redis_url]),
        SCHEDULER_GRPC__HOST="127.0.0.1",
        SCHEDULER_GRPC__PORT=str(free_port()),
        SCHEDULER_SITES__ALLOWED=json.dumps(["127.0.0.1"]),
        SCHEDULER_DOWNLOADER__WORKERS=str(workers),
        SCHEDULER_VIDEO_SERVICE__KIND="directory",
        SCHEDULER_VIDEO_SERVICE__DIRECTORY=str(sink),
    )


def _tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else ""


async def _listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"scheduler serve did not start:\n{_tail(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return


async def _wait_done(dsn: str, count: int, timeout_s: float, log: Path, pid: int) -> list[tuple[int, int]]:
    """Until `count` videos are done (polled: other processes do the work); the RSS of the
    process `pid` on the way, with the videos done then."""
    connection = await asyncpg.connect(dsn)
    service, rss = psutil.Process(pid), []
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            done = await connection.fetchval("SELECT count(*) FROM videos WHERE status = 'done'")
            rss.append((done, service.memory_info().rss))
            if done >= count:
                return rss
            if time.monotonic() > deadline:
                states = await connection.fetch("SELECT status::text, count(*) FROM videos GROUP BY 1")
                raise RuntimeError(f"not all {count} videos done in {timeout_s:g} s: {states}\n{_tail(log)}")
            await asyncio.sleep(0.02)
    finally:
        await connection.close()


async def _run_instances(
    dsn: str, feed: Feed, environments: list[dict[str, str]], logs: list[Path], timeout_s: float
) -> tuple[float, list[tuple[int, int]]]:
    """Starts the instances, subscribes, waits until every video is done, stops them (SIGTERM,
    which must end each with 0); returns the seconds from the subscription until done, and
    the first instance's RSS on the way (`_wait_done`)."""
    processes: list[asyncio.subprocess.Process] = []
    try:
        for environment, log in zip(environments, logs, strict=True):
            output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        *scheduler_command("serve"), env=environment, stdout=output, stderr=output, cwd=REPO
                    )
                )
            finally:
                os.close(output)  # the child has its own
        ports = [int(e["SCHEDULER_GRPC__PORT"]) for e in environments]
        await asyncio.gather(*map(_listening, ports, processes, logs))
        channel = Channel("127.0.0.1", ports[0])
        try:
            started = time.perf_counter()
            await SchedulerStub(channel).ScheduleCategory(pb.ScheduleCategoryRequest(url=feed.url, user_id=1))
            rss = await _wait_done(dsn, len(feed.ids), timeout_s, logs[0], processes[0].pid)
            elapsed = time.perf_counter() - started
        finally:
            channel.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process, log in zip(processes, logs, strict=True):
            if await asyncio.wait_for(process.wait(), 60):
                raise RuntimeError(f"scheduler serve exited with {process.returncode}:\n{_tail(log)}")
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return elapsed, rss


async def _recorded(dsn: str) -> tuple[int, int, int]:
    """previous_downloads rows, the distinct videos among them, and every failed attempt."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT count(*), count(DISTINCT video_id), (SELECT coalesce(sum(attempts), 0) FROM videos)"
            " FROM previous_downloads"
        )
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await connection.close()


def _sink_files(sink: Path) -> dict[str, list[int]]:
    """The directory sink's videos: <website>/<foreign id>/video.mp4 -> id -> sizes."""
    files: dict[str, list[int]] = {}
    for path in sink.glob("*/*/video*"):
        files.setdefault(path.parent.name, []).append(path.stat().st_size)
    return files


def deliver(
    env: Environment, feed: Feed, work: Path, instances: int, workers: int, timeout_s: float
) -> Delivery:
    """`instances` `scheduler serve` processes on a fresh scratch database deliver the feed
    into one directory sink."""
    work.mkdir(parents=True)
    sink = work / "media"
    logs = [work / f"serve-{i}.log" for i in range(instances)]
    with env.scratch_database("delivery") as dsn:
        environments = [
            serve_environment(dsn, env.redis_url, work / f"data-{i}", sink, workers) for i in range(instances)
        ]
        elapsed, service_rss = asyncio.run(_run_instances(dsn, feed, environments, logs, timeout_s))
        rows, videos, attempts = asyncio.run(_recorded(dsn))
    texts = [log.read_text().splitlines() for log in logs]
    files = _sink_files(sink)
    shutil.rmtree(sink, ignore_errors=True)  # counted; it can be gigabytes (the logs stay)
    return Delivery(
        elapsed_s=elapsed,
        phases=[times for text in texts for line in text if (times := phases.parse(line))],
        delivered=[[m["id"] for line in text if (m := DELIVERED.search(line))] for text in texts],
        sink=files,
        recorded=rows,
        recorded_videos=videos,
        failed_attempts=attempts,
        service_rss=service_rss,
    )


def _settle() -> None:
    """Flushes the last side's writes, so they do not land on the next side's time."""
    os.sync()


def run(env: Environment) -> Result:
    count = int(env.pick(10, 200, 1_000))
    size = int(env.pick(200_000, 2_000_000, 5_000_000))
    with feed(count, size) as served:
        sequential_s = cli_sequential(served, env.work / "delivery-sequential")
        sequential = cli_files(env.work / "delivery-sequential")
        _settle()
        parallel_s = cli_parallel(served, env.work / "delivery-parallel")
        parallel = cli_files(env.work / "delivery-parallel")
        _settle()
        ours = deliver(env, served, env.work / "delivery-ours", 1, PROCESSES, env.pick(60, 120, 600))
        problems = ours.problems(served)
    expected = {v: [size] for v in served.ids}
    speed = {
        "sequential": count / sequential_s,
        "parallel": count / parallel_s,
        "ours": count / ours.elapsed_s,
    }
    versus_parallel = ratio(speed["parallel"], speed["ours"])
    overhead = [p["overhead"] * 1000 for p in ours.phases]
    own = [p["own"] * 1000 for p in ours.phases]
    rss_start, rss_end = ours.rss_growth()
    result = Result(
        key="delivery",
        title="End-to-end delivery",
        setup=(
            f"A local feed of {count:,} videos x {size / MB:g} MB into the directory sink: the yt-dlp "
            f"command line over the feed (sequential), {PROCESSES} yt-dlp processes over its video URLs, "
            f"and `scheduler serve` with {PROCESSES} downloader workers, timed from the subscription "
            "until every video is done. Overhead: claim share, wait, lock, record and event, unlock; "
            "own: all but yt-dlp's and the sink's calls (scheduler/pipeline/phases.py)."
        ),
        rows=[
            Row(
                f"videos/s (baseline: {PROCESSES} parallel yt-dlp)",
                f"{speed['parallel']:.1f}",
                f"{speed['ours']:.1f}",
                versus_parallel,
                f">= 1x {PROCESSES} parallel yt-dlp",
                versus_parallel >= 1,
            ),
            Row(
                "videos/s (baseline: sequential yt-dlp)",
                f"{speed['sequential']:.1f}",
                f"{speed['ours']:.1f}",
                ratio(speed["sequential"], speed["ours"]),
            ),
            Row(
                f"MB/s (baseline: {PROCESSES} parallel yt-dlp)",
                f"{speed['parallel'] * size / MB:.1f}",
                f"{speed['ours'] * size / MB:.1f}",
                versus_parallel,
            ),
            Row("service overhead per video, p50 (ms)", "", f"{percentile(overhead, 50):.1f}"),
            Row(
                "service overhead per video, p95 (ms)",
                "",
                f"{percentile(overhead, 95):.1f}",
                None,
                "< 20 ms",
                percentile(overhead, 95) < 20,
            ),
            Row(
                "service's own time per video, p50 / p95 (ms)",
                "",
                f"{percentile(own, 50):.1f} / {percentile(own, 95):.1f}",
            ),
            Row(
                f"service process RSS, {count // 10:,} videos done -> all {count:,} (MiB)",
                f"{rss_start / MiB:.1f}",
                f"{rss_end / MiB:.1f} ({(rss_end - rss_start) / MiB:+.1f})",
                None,
                f"flat: <= {RSS_GROWTH_LIMIT // MiB} MiB growth",
                rss_end - rss_start <= RSS_GROWTH_LIMIT,
            ),
            Row(
                "delivered exactly once, whole",
                f"sequential {_once(sequential, expected)}, parallel {_once(parallel, expected)}",
                f"{len(ours.sink)}/{count}" + "".join(f"; {problem}" for problem in problems),
                None,
                f"{count}/{count}, once each",
                not problems,
            ),
        ],
    )
    result.charts.append(_chart(env, speed, ours))
    return result


def _once(files: dict[str, list[int]], expected: dict[str, list[int]]) -> str:
    return f"{sum(files.get(v) == sizes for v, sizes in expected.items())}/{len(expected)}"


def _chart(env: Environment, speed: dict[str, float], ours: Delivery) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    names = ["yt-dlp\nsequential", f"yt-dlp\n{PROCESSES} processes", f"ours\n{PROCESSES} workers"]
    left.bar(names, list(speed.values()), color=["#999", "#666", "#2a7"])
    left.set_ylabel("videos/s")
    left.set_title("Throughput")
    own = [name for name in phases.PHASES if name not in phases.EXTERNAL] + ["other"]
    medians = [percentile([p.get(name, 0.0) * 1000 for p in ours.phases], 50) for name in own]
    colors = ["#2a7" if name in phases.BOOKKEEPING else "#9cb" for name in own]
    right.barh(own[::-1], medians[::-1], color=colors[::-1])
    right.set_xlabel("ms per video (median)")
    right.set_title("Ours: the service's own phases (dark: overhead)")
    figure.tight_layout()
    path = env.charts / "delivery.png"
    figure.savefig(path)
    plt.close(figure)
    return path
