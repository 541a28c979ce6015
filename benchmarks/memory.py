"""Memory: the peak RSS of `scheduler serve` and its yt-dlp workers while it delivers one
video, per Video Service.

Each run is a fresh `scheduler serve` process (real PostgreSQL, Redis, yt-dlp) that lists
a one-video feed of the local content site and delivers the video to one sink: a
directory, the fake Horahora (gRPC; in a thread of this process, keeping only the size
and hash of what it receives) or the fake HTTP service (which reads and discards). The
RSS of its process tree (the service and its yt-dlp worker processes) is sampled every
50 ms from the start to the video's delivery, and the service process's own beside it.
A small and a large video per sink tell whether memory grows with the video; one more
run delivers 7 small videos at once (7 downloaders). The baseline is the same process
tree idle after its start, before it is given any work; yt-dlp's own CLI downloading
the large video is a reference point.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import trio
import trio_asyncio
from grpclib.client import Channel

from benchmarks.harness import Environment, Result, Row, fetch
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.content_site import ContentSite, content, content_site
from tests.fake_video_service import FakeHorahora, FakeHttp, running_fake_horahora, running_fake_http
from tests.support import clean_environment, free_port, scheduler_process, wait_until_listening

MiB = 2**20
SAMPLE_S = 0.05
# Idle: the RSS once it has moved less than SETTLED over SETTLE_S (serve's start checks
# start a yt-dlp worker after it listens), or after SETTLE_MAX_S whatever it does.
SETTLE_S, SETTLE_MAX_S, SETTLED = 0.5, 5.0, MiB
SINKS = ("directory", "horahora", "http")
CONCURRENT_SINK = "horahora"  # the production sink
CONCURRENT = 7
GROWTH_LIMIT = 20 * MiB
# The process tree (the service and its yt-dlp workers), with CONCURRENT downloads (issue 20).
TREE_LIMIT = 400 * MiB


@dataclass
class Delivery:
    """One `serve` run: what it delivered and its RSS over time."""

    sink: str
    size: int  # bytes per video
    videos: int
    idle_rss: int = 0  # after the start, before any work
    # (time.monotonic(), the tree's RSS, the service process's own)
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    given_at: float = 0.0  # time.monotonic() when the feed was scheduled
    seconds: float = 0.0  # from then to the last delivery
    disk_peak: int = 0  # bytes under the data directory (work directory and sink)
    intact: int = 0  # videos found whole in the sink

    @property
    def peak(self) -> int:
        """The process tree's."""
        return max(tree for _, tree, _ in self.samples)

    @property
    def service_peak(self) -> int:
        return max(own for _, _, own in self.samples)


@dataclass
class Fakes:
    horahora: FakeHorahora
    http: FakeHttp


def rss_of(process: psutil.Process) -> int:
    """The process's RSS plus its children's (its yt-dlp workers; the servers are given)."""
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in family:
        with suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


@functools.cache  # every sink gets the same videos
def expected_sha256(video_id: str, size: int) -> str:
    digest = hashlib.sha256()
    for piece in content(video_id, 0, size):
        digest.update(piece)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(MiB):
            digest.update(piece)
    return digest.hexdigest()


@contextmanager
def fakes_in_a_thread() -> Iterator[Fakes]:
    """Both fake Video Services in a loop of their own, so receiving a large upload never
    holds up this process's sampling. Horahora keeps only the size and hash of a video,
    the HTTP fake only counts the bytes."""
    ready: list[Fakes] = []
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with running_fake_horahora() as horahora, running_fake_http() as http:
            horahora.keep_bytes = False
            http.discard = True
            ready.append(Fakes(horahora, http))
            started.set()
            await trio.to_thread.run_sync(stop.wait)

    thread = threading.Thread(target=trio_asyncio.run, args=(serve,), name="fake-video-services")
    thread.start()
    try:
        if not started.wait(30):
            raise RuntimeError("the fake Video Services did not start")
        yield ready[0]
    finally:
        stop.set()
        thread.join()


async def _sql(dsn: str, statement: str, *args: Any) -> Any:
    return await trio_asyncio.aio_as_trio(fetch)(dsn, statement, *args)


async def _sample(process: psutil.Process, data_dir: Path, delivery: Delivery) -> None:
    while True:
        delivery.samples.append((time.monotonic(), rss_of(process), _own_rss(process)))
        delivery.disk_peak = max(delivery.disk_peak, disk_use(data_dir))  # a handful of files
        await trio.sleep(SAMPLE_S)


def _own_rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def disk_use(root: Path) -> int:
    """Bytes of the files under `root`, each file once however many names it has (the
    directory sink hard-links the video out of the work directory)."""
    sizes: dict[tuple[int, int], int] = {}
    for directory, _, files in os.walk(root):
        for name in files:
            with suppress(FileNotFoundError):  # yt-dlp renames its .part file
                found = os.stat(os.path.join(directory, name))
                sizes[found.st_dev, found.st_ino] = found.st_size
    return sum(sizes.values())


async def deliver(
    env: Environment, dsn: str, site: ContentSite, fakes: Fakes, sink: str, video_ids: list[str], size: int
) -> Delivery:
    """Starts `serve`, gives it a feed of `video_ids`, and samples it until they are delivered."""
    delivery = Delivery(sink, size, len(video_ids))
    data_dir = env.work / f"memory-{sink}-{uuid.uuid4().hex[:6]}"
    media = data_dir / "media"
    port = free_port()
    environment = clean_environment(
        SCHEDULER_DATA_DIR=str(data_dir),
        SCHEDULER_DATABASE__URL=dsn,
        SCHEDULER_DATABASE__MIGRATE_ON_START="false",
        SCHEDULER_REDIS__URLS=json.dumps([env.redis_url]),
        SCHEDULER_GRPC__HOST="127.0.0.1",
        SCHEDULER_GRPC__PORT=str(port),
        SCHEDULER_SITES__ALLOWED=json.dumps(["127.0.0.1"]),
        SCHEDULER_SYNC__WORKERS="1",
        SCHEDULER_SYNC__RETRY_S="0.5",  # a listing that fails on a loaded machine is retried soon
        SCHEDULER_SCHEDULE__POLL_INTERVAL_S="0.2",
        SCHEDULER_DOWNLOADER__WORKERS=str(len(video_ids)),
        SCHEDULER_DOWNLOADER__ATTEMPTS="1",
        SCHEDULER_SHUTDOWN__GRACE_S="5",
        SCHEDULER_VIDEO_SERVICE__KIND=sink,
        SCHEDULER_VIDEO_SERVICE__DIRECTORY=str(media),
        SCHEDULER_VIDEO_SERVICE__ADDRESS=fakes.horahora.address,
        SCHEDULER_VIDEO_SERVICE__URL=fakes.http.url,
    )
    await _sql(dsn, "TRUNCATE categories, videos RESTART IDENTITY CASCADE")  # every run starts empty
    feed = site.feed(f"memory-{sink}-{uuid.uuid4().hex[:6]}", video_ids)
    discarded_before = fakes.http.discarded_bytes
    await trio.to_thread.run_sync(data_dir.mkdir)
    log = data_dir / "serve.log"
    try:
        async with scheduler_process(environment, log, "serve") as process:
            watched = psutil.Process(process.pid)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_sample, watched, data_dir, delivery)
                await wait_until_listening(port, process, log)
                delivery.idle_rss = await _settled(delivery)
                delivery.given_at = time.monotonic()
                await _schedule(port, feed)
                await _wait_delivered(dsn, process, log, len(video_ids), size)
                delivery.seconds = time.monotonic() - delivery.given_at
                nursery.cancel_scope.cancel()
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                if await process.wait() != 0:
                    raise _exited(process, log)
        received = fakes.http.discarded_bytes - discarded_before
        delivery.intact = await trio.to_thread.run_sync(
            _count_intact, delivery, media, fakes, video_ids, received
        )
    finally:
        # The sink's copy and the work directory: up to twice the video on disk.
        await trio.to_thread.run_sync(shutil.rmtree, data_dir, True)
    return delivery


async def _settled(delivery: Delivery) -> int:
    window = round(SETTLE_S / SAMPLE_S)
    with trio.move_on_after(SETTLE_MAX_S):
        await trio.sleep(SETTLE_S)
        while True:
            recent = [tree for _, tree, _ in delivery.samples[-window:]]
            if max(recent) - min(recent) < SETTLED:
                break
            await trio.sleep(SAMPLE_S)
    return delivery.samples[-1][1]


async def _schedule(port: int, feed: str) -> None:
    async def call() -> None:
        channel = Channel("127.0.0.1", port)
        try:
            await SchedulerStub(channel).ScheduleCategory(pb.ScheduleCategoryRequest(url=feed, user_id=1))
        finally:
            channel.close()

    await trio_asyncio.aio_as_trio(call)()


async def _wait_delivered(dsn: str, process: trio.Process, log: Path, videos: int, size: int) -> None:
    rows: list[Any] = []
    with trio.move_on_after(60 + videos * size / (2 * MiB)):  # generous: a loaded 2-core machine
        while True:
            rows = await _sql(dsn, "SELECT status::text, last_error FROM videos")
            if any(row["status"] == "failed" for row in rows):
                break
            if len(rows) == videos and all(row["status"] == "done" for row in rows):
                return
            if process.poll() is not None:
                raise _exited(process, log)
            await trio.sleep(0.2)
    states = [(row["status"], row["last_error"]) for row in rows]
    events = [row["message"] for row in await _sql(dsn, "SELECT message FROM archival_events ORDER BY id")]
    raise RuntimeError(f"not delivered: {states}; events: {events}; serve's log:\n{_tail(log)}")


def _exited(process: trio.Process, log: Path) -> RuntimeError:
    return RuntimeError(f"serve exited with {process.returncode}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _count_intact(
    delivery: Delivery, media: Path, fakes: Fakes, video_ids: list[str], http_received: int
) -> int:
    """Videos whose bytes reached the sink whole: hashes for the directory and Horahora; the
    discarding HTTP fake counts only the bytes of the multipart bodies."""
    if delivery.sink == "http":
        return min(len(video_ids), http_received // delivery.size)
    expected = {v: expected_sha256(v, delivery.size) for v in video_ids}
    if delivery.sink == "directory":
        found = [p for p in media.glob("*/*/video.mp4") if p.parent.name in expected]
        return sum(file_sha256(p) == expected[p.parent.name] for p in found)
    return sum(
        u.meta is not None
        and u.meta.originalID in expected
        and u.video_sha256.hexdigest() == expected[u.meta.originalID]
        for u in fakes.horahora.uploads
    )


async def ytdlp_cli_peak(env: Environment, url: str) -> int:
    """yt-dlp's own command line downloading the same video: a reference point."""
    target = env.work / "memory-ytdlp"
    command = [
        sys.executable,
        "-m",
        "yt_dlp",
        "--quiet",
        "--no-cache-dir",
        "-o",
        str(target / "v.%(ext)s"),
        url,
    ]
    process = await trio.lowlevel.open_process(command, cwd=env.work)
    peak = 0
    try:
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            peak = max(peak, rss_of(watched))
            await trio.sleep(SAMPLE_S)
        if process.returncode != 0:
            raise RuntimeError(f"yt-dlp exited with {process.returncode}")
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        await trio.to_thread.run_sync(shutil.rmtree, target, True)
    return peak


@dataclass
class Runs:
    small: int
    large: int
    single: dict[tuple[str, int], Delivery] = field(default_factory=dict)  # (sink, size) -> run
    concurrent: Delivery = field(default_factory=lambda: Delivery("", 0, 0))
    ytdlp_peak: int = 0

    def all(self) -> list[Delivery]:
        return [*self.single.values(), self.concurrent]


async def measure(
    env: Environment, dsn: str, site: ContentSite, fakes: Fakes, small: int, large: int
) -> Runs:
    runs = Runs(small, large)
    token = uuid.uuid4().hex[:6]  # ids of this run's own: Redis (and its locks) may be shared
    ids = {size: f"memory-{token}-{size // MiB}mib" for size in (small, large)}
    for size, video_id in ids.items():
        site.add_video(video_id, size=size)
    for sink in SINKS:
        for size, video_id in ids.items():
            runs.single[sink, size] = await deliver(env, dsn, site, fakes, sink, [video_id], size)
    together = [f"memory-{token}-together{n}" for n in range(CONCURRENT)]
    for video_id in together:
        site.add_video(video_id, size=small)
    runs.concurrent = await deliver(env, dsn, site, fakes, CONCURRENT_SINK, together, small)
    runs.ytdlp_peak = await ytdlp_cli_peak(env, site.video(ids[large]).url)
    return runs


def collect(env: Environment) -> Runs:
    small, large = (int(env.pick(*sizes) * MiB) for sizes in ((4, 32, 100), (32, 256, 1024)))
    with env.scratch_database("memory") as dsn, content_site() as site, fakes_in_a_thread() as fakes:
        runs: Runs = trio_asyncio.run(measure, env, dsn, site, fakes, small, large)
    return runs


def run(env: Environment) -> Result:
    return report(env, collect(env))


def report(env: Environment, runs: Runs) -> Result:
    small, large = runs.small, runs.large
    result = Result(
        key="memory",
        title="Memory",
        setup=(
            f"`scheduler serve` delivering one {_size(small)} and one {_size(large)} video to each Video "
            f"Service, then {CONCURRENT} {_size(small)} videos at once ({CONCURRENT} downloaders) to "
            f"{CONCURRENT_SINK}; RSS of the process tree (the service and its yt-dlp workers) and of the "
            f"service process alone, sampled every {SAMPLE_S * 1000:.0f} ms from the start to the delivery. "
            "Baseline: the same process tree idle after its start."
        ),
    )
    for sink in SINKS:
        low, high = runs.single[sink, small], runs.single[sink, large]
        for delivery in (low, high):
            result.rows.append(
                Row(f"peak RSS, {sink}, {_size(delivery.size)}", _idle(delivery), _mib(delivery.peak))
            )
        # The service process's own: the tree's peak also counts how many workers happened
        # to be alive (a listing's and a download's may overlap), whatever the video's size.
        growth = high.service_peak - low.service_peak
        result.rows.append(
            Row(
                f"growth {_size(small)} -> {_size(large)}, {sink} (the service process)",
                f"{_mib(low.service_peak)} at {_size(small)}",
                f"{growth / MiB:+.1f} MiB",
                target="<= 20 MiB",
                met=growth <= GROWTH_LIMIT,
            )
        )
    together = runs.concurrent
    result.rows.append(
        Row(
            f"peak RSS, process tree, {CONCURRENT} x {_size(small)} at once, {CONCURRENT_SINK}",
            _idle(together),
            _mib(together.peak),
            target="< 400 MiB",
            met=together.peak < TREE_LIMIT,
        )
    )
    result.rows.append(
        Row(
            f"peak RSS, the service process alone, {CONCURRENT} at once",
            "",
            _mib(together.service_peak),
        )
    )
    highest = max(runs.all(), key=lambda d: d.peak)
    result.rows.append(
        Row(
            "peak RSS, process tree, any run",
            _idle(highest),
            _mib(highest.peak),
            target="< 400 MiB",
            met=highest.peak < TREE_LIMIT,
        )
    )
    result.rows.append(Row(f"yt-dlp CLI alone, {_size(large)} (reference)", "", _mib(runs.ytdlp_peak)))
    for sink in SINKS:
        delivery = runs.single[sink, large]
        result.rows.append(
            Row(
                f"peak disk use, {sink}, {_size(large)}",
                "",
                f"{delivery.disk_peak / large:.2f}x the video",
            )
        )
    delivered = sum(d.intact for d in runs.all())
    result.rows.append(
        Row("videos delivered intact", "", f"{delivered} of {sum(d.videos for d in runs.all())}")
    )
    result.charts.append(chart(env, runs))
    return result


def chart(env: Environment, runs: Runs) -> Path:
    """RSS over time while the large video is delivered, one line per sink."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.5), dpi=100)
    for sink in SINKS:
        delivery = runs.single[sink, runs.large]
        axes.plot(*_curve(delivery), label=sink, linewidth=1.2)
    axes.plot(
        *_curve(runs.concurrent),
        label=f"{CONCURRENT} x {_size(runs.small)}, {CONCURRENT_SINK}",
        linewidth=1.2,
        linestyle="--",
    )
    axes.axhline(TREE_LIMIT / MiB, color="grey", linewidth=0.8, linestyle=":")
    axes.annotate("target", (0, TREE_LIMIT / MiB), xytext=(4, -12), textcoords="offset points", fontsize=8)
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set_xlabel("seconds since the work was given (before 0: the start)")
    axes.set_ylabel("RSS of the process tree (MiB)")
    axes.set_ylim(bottom=0)
    axes.set_title(
        f"RSS of scheduler serve and its workers: one {_size(runs.large)} video per sink; "
        f"{CONCURRENT} at once"
    )
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path = env.charts / "memory.png"
    figure.savefig(path)
    pyplot.close(figure)
    return path


def _curve(delivery: Delivery) -> tuple[list[float], list[float]]:
    """Seconds since the work was given, RSS in MiB."""
    samples = delivery.samples
    return [t - delivery.given_at for t, _, _ in samples], [tree / MiB for _, tree, _ in samples]


def _size(size: int) -> str:
    return f"{size // 2**30} GiB" if size >= 2**30 else f"{size // MiB} MiB"


def _mib(size: int) -> str:
    return f"{size / MiB:.1f} MiB"


def _idle(delivery: Delivery) -> str:
    return f"{_mib(delivery.idle_rss)} idle"
