"""Cancel latency: from a cancel to the download stopped, for a download blocked in a read.

The content site sends a video's headers and then nothing (tests/content_site.py mode
"stall"), so yt-dlp waits in a socket read. Baseline: the thread design that issue 20
replaced, yt-dlp in a thread of the service (`trio.to_thread.run_sync`, which waits for
the thread): the thread comes back only when the read gives up, at the socket timeout.
Ours: yt-dlp in a worker process (pipeline/ytdlp/pool.py), killed at the cancel; the
time runs until the worker is gone. Each trial cancels 0.5 s after the download began.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from benchmarks.harness import Environment, Result, Row, inverse_ratio, percentile
from scheduler.pipeline import ytdlp
from scheduler.pipeline.ytdlp.download import download
from scheduler.pipeline.ytdlp.pool import WorkerPool
from scheduler.settings import DownloaderSettings, from_overrides
from tests.content_site import content_site
from tests.support import worker_processes

CANCEL_AFTER_S = 0.5
ALLOWED = ("127.0.0.1",)


async def cancel_latency(download: Callable[[], Awaitable[object]]) -> float:
    """Seconds from the cancel (CANCEL_AFTER_S after `download` began) until it is back."""
    cancelled_at = 0.0
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def cancel() -> None:
                nonlocal cancelled_at
                await trio.sleep(CANCEL_AFTER_S)
                cancelled_at = time.perf_counter()
                scope.cancel()

            nursery.start_soon(cancel)
            with contextlib.suppress(ytdlp.YtdlpError):  # the thread's read gave up
                await download()
    return time.perf_counter() - cancelled_at


@dataclass(frozen=True)
class Latencies:
    thread_s: list[float]
    worker_s: list[float]
    workers_left: int  # worker processes still running after the trials' cancels


async def measure(url: str, work: Path, settings: DownloaderSettings, trials: int) -> Latencies:
    thread_s, worker_s = [], []
    async with WorkerPool.open(settings) as pool:
        for n in range(trials):
            workdir = work / f"cancel-{n}"
            workdir.mkdir(parents=True, exist_ok=True)
            in_thread = functools.partial(
                trio.to_thread.run_sync, download, url, workdir, settings, ytdlp.Progress(), ALLOWED
            )
            thread_s.append(await cancel_latency(in_thread))
            async with pool.worker() as worker:  # a ready worker, as a downloader takes it
                in_worker = functools.partial(
                    worker.download, url, workdir, settings, ytdlp.Progress(), ALLOWED
                )
                worker_s.append(await cancel_latency(in_worker))
        workers_left = len(worker_processes())
    return Latencies(thread_s, worker_s, workers_left)


def run(env: Environment) -> Result:
    trials = int(env.pick(2, 5, 20))
    # The socket timeout bounds the baseline: yt-dlp's read gives up then (30 s by default).
    socket_timeout_s = env.pick(2.0, 5.0, 30.0)
    settings = replace(from_overrides({}).downloader, socket_timeout_s=socket_timeout_s)
    with content_site() as site:
        site.add_video("stalled", size=1_000_000)
        site.set_mode("stalled", "stall")
        latencies = trio.run(measure, site.video("stalled").url, env.work, settings, trials)
    thread_p95 = percentile(latencies.thread_s, 95)
    worker_p95 = percentile(latencies.worker_s, 95)
    return Result(
        key="cancel",
        title="Cancel latency",
        setup=(
            f"{trials} trials each: a download blocked in a read (the site sends the headers, then "
            f"nothing), cancelled {CANCEL_AFTER_S:g} s after it began; yt-dlp's socket timeout "
            f"{socket_timeout_s:g} s. Baseline: yt-dlp in a thread (the design before issue 20); "
            "ours: in a worker process, killed at the cancel."
        ),
        rows=[
            Row(
                "cancel to stopped, p95 (s)",
                f"{thread_p95:.3f}",
                f"{worker_p95:.3f}",
                inverse_ratio(thread_p95, worker_p95),
                "< 1 s",
                worker_p95 < 1.0,
            ),
            Row(
                "worker processes left running",
                "",
                str(latencies.workers_left),
                None,
                "0",
                latencies.workers_left == 0,
            ),
        ],
    )
