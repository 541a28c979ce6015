"""Dispatch latency: from a video becoming due to a downloader starting it, on an idle system.

Three `scheduler serve` processes run side by side, each on a scratch database of its own,
with the local content site (tiny videos), a directory Video Service and the Redis of the
environment. They differ only in how their claimers wake:

- ours: LISTEN/NOTIFY, with the default poll interval as the fallback;
- ours with NOTIFY off (`SCHEDULER_SCHEDULE__LISTEN=false`, as behind a PgBouncer in
  transaction pooling mode): the poll interval alone;
- the baseline, the old design's 15 s polling: NOTIFY off, a 15 s poll interval.

No syncer runs. In each process, videos become due one at a time at random moments, in
two ways: "inserted", a one-video listing stored through the syncer's own write path
(`PipelineQueries.finish_sync`, which NOTIFYs), and "retried", the RetryFailed RPC on a
failed video. Every process has more downloaders than videos ever due at once, so what is
measured is the wake-up, never a queue for a downloader.

The clock: one LISTEN connection per database, on two channels. Due = the NOTIFY on
`scheduler_work` that the transaction making the video due sends (the very signal the
pipeline's own LISTEN wakes on), delivered at its commit. Claimed and started come from
`scheduler_videos`, which the trigger on `videos` fills with "id:status" at each commit:
the poller's claim ("queued"), then the downloader's first write ("downloading", after the
Redlock and the Video Service's exists check). All arrive on one connection in commit
order, so a notification's own delivery time cancels out. Videos are made due one at a
time per database, so each `scheduler_work` notification belongs to the one being made.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from grpclib.client import Channel

from benchmarks.harness import Environment, Result, Row, inverse_ratio, percentile
from scheduler.db.store import Store
from scheduler.settings import defaults
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from scheduler.work import ClaimedCategory, ListedVideo
from tests.content_site import ContentSite, content_site
from tests.support import REPO, clean_environment, free_port, scheduler_command

HOST = "127.0.0.1"
USER_ID = 1
SYNCER = "bench-syncer"  # the lease owner of the categories the benchmark lists into
# The work between a wake-up and the downloader's first write: the debounce (20 ms), a
# claim, the Redlock, the exists check, one UPDATE. The bound with NOTIFY off is P + this.
SLACK_S = 0.25
TARGET_P95_MS = 250.0
VIDEO_BYTES = 16_000
# Downloaders per process: more than the videos a 15 s poll ever finds due at once.
WORKERS = 48
DEFAULT_POLL_S = float(defaults()["schedule"]["poll_interval_s"])


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    listen: bool
    poll_interval_s: float


@dataclass
class Sample:
    foreign_id: str
    way: str  # "inserted" | "retried"
    offset_s: float
    category_id: int = 0
    video_id: int | None = None
    due: float | None = None  # perf_counter() at its scheduler_work NOTIFY


@dataclass
class Side:
    """One process's run: its samples and the first time each video was seen in each status."""

    config: Config
    dsn: str
    data_dir: Path
    samples: list[Sample]
    port: int = 0
    seen: dict[int, dict[str, float]] = field(default_factory=dict)
    all_started: asyncio.Event = field(default_factory=asyncio.Event)
    work: asyncio.Queue[float] = field(default_factory=asyncio.Queue)  # scheduler_work NOTIFYs
    making_due: asyncio.Lock = field(default_factory=asyncio.Lock)

    def on_work(self, *_: Any) -> None:
        self.work.put_nowait(time.perf_counter())

    def on_video_change(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        now = time.perf_counter()
        for change in payload.split(","):
            video_id, _, status = change.partition(":")
            if video_id.isdigit():
                self.seen.setdefault(int(video_id), {}).setdefault(status, now)
        if self.started == len(self.samples):
            self.all_started.set()

    def _latency_ms(self, sample: Sample, status: str) -> float | None:
        if sample.video_id is None or sample.due is None:
            return None
        then = self.seen.get(sample.video_id, {}).get(status)
        return (then - sample.due) * 1000 if then is not None else None

    def latencies_ms(self, status: str = "downloading", way: str | None = None) -> list[float]:
        found = (self._latency_ms(s, status) for s in self.samples if way in (None, s.way))
        return sorted(t for t in found if t is not None)

    @property
    def dispatched(self) -> int:
        return len(self.latencies_ms())

    @property
    def started(self) -> int:
        """Videos seen downloading so far (every video of the database is a sample)."""
        return sum("downloading" in times for times in self.seen.values())

    async def identify(self, conn: Any) -> None:
        """Each sample's video id (an inserted video has one only once stored)."""
        ids = dict(await conn.fetch("SELECT foreign_id, id FROM videos"))
        for sample in self.samples:
            sample.video_id = ids.get(sample.foreign_id)

    def p(self, q: float, status: str = "downloading") -> float:
        return percentile(self.latencies_ms(status), q)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms(), default=0.0)


def _samples(count: int, window_s: float, rng: random.Random, tag: str) -> list[Sample]:
    ways = ["inserted", "retried"] * (count // 2) + ["inserted"] * (count % 2)
    rng.shuffle(ways)
    offsets = sorted(rng.uniform(0, window_s) for _ in ways)
    return [
        Sample(f"{tag}-{n}", way, offset) for n, (way, offset) in enumerate(zip(ways, offsets, strict=True))
    ]


async def _arrange(side: Side, site: ContentSite) -> None:
    """A subscribed category per sample: leased to the benchmark's "syncer" for an inserted
    one, holding one failed video for a retried one."""
    conn = await asyncpg.connect(side.dsn)
    try:
        async with conn.transaction():
            for sample in side.samples:
                video = site.add_video(sample.foreign_id, size=VIDEO_BYTES)
                inserted = sample.way == "inserted"
                sample.category_id = await conn.fetchval(
                    "INSERT INTO categories"
                    " (url, website, kind, subscriber_count, lease_owner, lease_expires_at)"
                    " VALUES ($1, $2, 'url', 1, $3, CASE WHEN $3::text IS NULL THEN NULL"
                    " ELSE now() + interval '1 day' END) RETURNING id",
                    site.feed_url(sample.foreign_id),
                    HOST,
                    SYNCER if inserted else None,
                )
                await conn.execute(
                    "INSERT INTO subscriptions (user_id, category_id) VALUES ($1, $2)",
                    USER_ID,
                    sample.category_id,
                )
                if inserted:
                    continue
                sample.video_id = await conn.fetchval(
                    "INSERT INTO videos (website, foreign_id, url, title, status, attempts, last_error)"
                    " VALUES ($1, $2, $3, $4, 'failed', 5, 'failed before the benchmark') RETURNING id",
                    HOST,
                    sample.foreign_id,
                    video.url,
                    video.title,
                )
                await conn.execute(
                    "INSERT INTO category_videos (category_id, video_id, position) VALUES ($1, $2, 0)",
                    sample.category_id,
                    sample.video_id,
                )
    finally:
        await conn.close()


async def _make_due(
    sample: Sample, side: Side, start: float, store: Store, stub: SchedulerStub, site: ContentSite
) -> None:
    await asyncio.sleep(max(0.0, start + sample.offset_s - time.perf_counter()))
    async with side.making_due:  # one at a time: the next scheduler_work NOTIFY is this one's
        while not side.work.empty():
            side.work.get_nowait()
        if sample.way == "retried":
            request = pb.RetryFailedRequest(user_id=USER_ID, category_id=sample.category_id)
            await stub.RetryFailed(request, timeout=10)
        else:
            video = site.video(sample.foreign_id)
            category = ClaimedCategory(sample.category_id, video.url, HOST, 1, 1, False)
            listed = ListedVideo(HOST, sample.foreign_id, video.url, video.title, {"title": video.title})
            outcome = await store.pipeline(SYNCER).finish_sync(
                category, [listed], [], min_backoff_s=86400.0, max_backoff_factor=8
            )
            if outcome is None:
                raise RuntimeError(f"category {sample.category_id}: the benchmark's lease was lost")
        sample.due = await asyncio.wait_for(side.work.get(), 10)


def _environment(side: Side, redis_url: str) -> dict[str, str]:
    return clean_environment(
        SCHEDULER_DATA_DIR=str(side.data_dir),
        SCHEDULER_DATABASE__URL=side.dsn,
        SCHEDULER_DATABASE__POOL_MAX_SIZE="20",
        SCHEDULER_REDIS__URLS=f'["{redis_url}"]',
        SCHEDULER_GRPC__HOST=HOST,
        SCHEDULER_GRPC__PORT=str(side.port),
        SCHEDULER_SITES__ALLOWED=f'["{HOST}"]',
        SCHEDULER_SYNC__WORKERS="0",
        SCHEDULER_SCHEDULE__LISTEN=str(side.config.listen).lower(),
        SCHEDULER_SCHEDULE__POLL_INTERVAL_S=str(side.config.poll_interval_s),
        SCHEDULER_DOWNLOADER__WORKERS=str(WORKERS),
        SCHEDULER_SHUTDOWN__GRACE_S="5",
    )


async def _spawn(side: Side, redis_url: str) -> asyncio.subprocess.Process:
    side.port = free_port()
    side.data_dir.mkdir(parents=True)
    with (side.data_dir / "serve.log").open("wb") as output:
        return await asyncio.create_subprocess_exec(
            *scheduler_command("serve"),
            env=_environment(side, redis_url),
            stdout=output,
            stderr=output,
            cwd=REPO,
        )


async def _ready(side: Side, process: asyncio.subprocess.Process) -> None:
    """Ready once the port listens: the pipeline waits for work by then."""
    deadline = time.perf_counter() + 60
    while True:
        if process.returncode is not None or time.perf_counter() > deadline:
            log = (side.data_dir / "serve.log").read_text()
            raise RuntimeError(f"scheduler serve ({side.config.name}) did not start:\n{log}")
        try:
            _, writer = await asyncio.open_connection(HOST, side.port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _measure(sides: list[Side], env: Environment, site: ContentSite) -> None:
    for side in sides:
        await _arrange(side, site)
    processes: list[asyncio.subprocess.Process] = []
    listeners: list[Any] = []
    stores: list[Store] = []
    channels: list[Channel] = []
    try:
        for side in sides:
            processes.append(await _spawn(side, env.redis_url))
        await asyncio.gather(*(_ready(side, p) for side, p in zip(sides, processes, strict=True)))
        for side in sides:
            listener = await asyncpg.connect(side.dsn)
            listeners.append(listener)
            await listener.add_listener("scheduler_videos", side.on_video_change)
            await listener.add_listener("scheduler_work", side.on_work)
            stores.append(await Store.open(side.dsn, max_size=4))
            channels.append(Channel(HOST, side.port))
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _make_due(sample, side, start, store, SchedulerStub(channel), site)
                for side, store, channel in zip(sides, stores, channels, strict=True)
                for sample in side.samples
            )
        )
        # Every video started, or the longest wait the slowest configuration allows.
        longest = max(side.config.poll_interval_s for side in sides)
        with contextlib.suppress(TimeoutError):  # the rows count the videos that did start
            await asyncio.wait_for(asyncio.gather(*(s.all_started.wait() for s in sides)), longest + 10)
        for side, listener in zip(sides, listeners, strict=True):
            await side.identify(listener)
    finally:
        for channel in channels:
            channel.close()
        for store in stores:
            await store.close()
        for listener in listeners:
            await listener.close()
        await asyncio.gather(*(_stop(process) for process in processes))


def _text(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _chart(sides: list[Side], bound_s: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.8), dpi=100)
    for side in sides:
        values = side.latencies_ms()
        axes.step(
            values, [(n + 1) / len(values) for n in range(len(values))], where="post", label=side.config.label
        )
    axes.axvline(TARGET_P95_MS, color="grey", linestyle="--", linewidth=0.8)
    axes.axvline(bound_s * 1000, color="grey", linestyle=":", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("due → a downloader starts it (ms, log scale)")
    axes.set_ylabel("fraction of videos")
    axes.set_title("Dispatch latency on an idle system (dashed: 250 ms; dotted: poll + slack)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def run(env: Environment) -> Result:
    per_side = int(env.pick(6, 40, 200))
    window_s = float(env.pick(2.0, 28.0, 150.0))
    poll_s = float(env.pick(1.0, DEFAULT_POLL_S, DEFAULT_POLL_S))
    baseline_s = float(env.pick(2.0, 15.0, 15.0))  # tiny (the tests) shortens the old 15 s
    configs = [
        Config("notify", f"ours: NOTIFY (poll {DEFAULT_POLL_S:g} s fallback)", True, DEFAULT_POLL_S),
        Config("poll", f"ours, NOTIFY off: poll {poll_s:g} s", False, poll_s),
        Config("baseline", f"baseline: poll {baseline_s:g} s", False, baseline_s),
    ]
    rng = random.Random(6)
    run_tag = uuid.uuid4().hex[:6]  # Redlock keys are per video: never another run's
    with contextlib.ExitStack() as stack:
        site = stack.enter_context(content_site())
        sides = [
            Side(
                config,
                stack.enter_context(env.scratch_database(f"dispatch_{config.name}")),
                env.work / f"dispatch-{config.name}",
                _samples(per_side, window_s, rng, f"{config.name}-{run_tag}"),
            )
            for config in configs
        ]
        asyncio.run(_measure(sides, env, site))
    ours, off, baseline = sides
    bound_ms = (poll_s + SLACK_S) * 1000
    charts = [_chart(sides, poll_s + SLACK_S, env.charts / "dispatch.png")]
    rows = [
        Row(
            "due → started, p50",
            _text(baseline.p(50)),
            _text(ours.p(50)),
            inverse_ratio(baseline.p(50), ours.p(50)),
        ),
        Row(
            "due → started, p95",
            _text(baseline.p(95)),
            _text(ours.p(95)),
            inverse_ratio(baseline.p(95), ours.p(95)),
            "p95 < 250 ms",
            ours.dispatched == per_side and ours.p(95) < TARGET_P95_MS,
        ),
        Row(
            "due → started, max",
            _text(baseline.max_ms),
            _text(ours.max_ms),
            inverse_ratio(baseline.max_ms, ours.max_ms),
        ),
        Row(
            "due → claimed (queued), p50 / p95",
            f"{_text(baseline.p(50, 'queued'))} / {_text(baseline.p(95, 'queued'))}",
            f"{_text(ours.p(50, 'queued'))} / {_text(ours.p(95, 'queued'))}",
        ),
        Row(
            "p95 inserted / retried",
            " / ".join(_text(percentile(baseline.latencies_ms(way=w), 95)) for w in ("inserted", "retried")),
            " / ".join(_text(percentile(ours.latencies_ms(way=w), 95)) for w in ("inserted", "retried")),
        ),
        Row(
            f"NOTIFY off (poll {poll_s:g} s): p50 / p95",
            f"{_text(baseline.p(50))} / {_text(baseline.p(95))}",
            f"{_text(off.p(50))} / {_text(off.p(95))}",
            inverse_ratio(baseline.p(95), off.p(95)),
        ),
        Row(
            f"NOTIFY off (poll {poll_s:g} s): max",
            _text(baseline.max_ms),
            _text(off.max_ms),
            inverse_ratio(baseline.max_ms, off.max_ms),
            f"max <= poll interval + {SLACK_S * 1000:.0f} ms",
            off.dispatched == per_side and off.max_ms <= bound_ms,
        ),
        Row(
            "videos started / made due",
            f"{baseline.dispatched}/{per_side}",
            f"{ours.dispatched}/{per_side} (NOTIFY off: {off.dispatched}/{per_side})",
        ),
    ]
    return Result(
        key="dispatch",
        title="Dispatch latency",
        setup=(
            f"Three `scheduler serve` processes side by side, each on its own database: ours "
            f"(NOTIFY, {DEFAULT_POLL_S:g} s poll as fallback), ours with "
            f"`SCHEDULER_SCHEDULE__LISTEN=false` (poll {poll_s:g} s) and the baseline, the old design's "
            f"polling every {baseline_s:g} s. In each, "
            f"{per_side} videos became due one at a time at random moments over {window_s:g} s, half stored "
            f"by the syncer's write path, half put back by RetryFailed. Due and started are commits seen "
            f"on one LISTEN: the due transaction's `scheduler_work` NOTIFY, then the downloader's "
            f"`downloading` on `scheduler_videos`."
        ),
        rows=rows,
        charts=charts,
    )
