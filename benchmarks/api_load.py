"""The API under load while the pipeline delivers, and ListCategories against the old design.

A database holds one user subscribed to C categories over V videos of every status (the
big user), copied fresh for each run. `scheduler serve` runs against it as a child
process, with its default workers, delivering a content-site feed to the directory sink
(the site sends each video in about half a second, so downloads are the bottleneck):
once alone, once under load. The load generator is a process of its own (grpcio stubs
generated from the .proto, grpc.aio, one channel per caller); its callers, each at a
steady pace, call ScheduleCategory (new categories on the content site, for other users),
ListCategories (the big user) and ListDownloads from before the feed is scheduled until
it is delivered; then the same callers go back to back for a moment, the pipeline idle,
for the API's capacity. The baseline is the old design's ListCategories: one query for
the user's categories, then one COUNT query per category, by as many callers at the same
pace, straight against the database.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import trio
import trio_asyncio

from benchmarks.harness import (
    Environment,
    Result,
    Row,
    fetch,
    inverse_ratio,
    percentile,
    ratio,
    serve_environment,
)
from tests.content_site import ContentSite, content_site
from tests.support import (
    REPO,
    free_port,
    scheduler_process,
    wait_until_listening,
)

BIG_USER = 1
VIDEO_BYTES = 100_000
DOWNLOAD_S = 0.5  # each video's download, capped by the content site
METHODS = ("ScheduleCategory", "ListCategories", "ListDownloads")

# $1 videos, $2 categories. The big user subscribes to every category, a few other users
# to some; each video is in one category, every tenth in a second one too. Statuses: 60 %
# done (with their delivery recorded), 5 % failed, some rejected, a few in flight for
# another instance; nothing here is due: the categories sync next year and the pending
# videos are deferred to next year, so the pipeline works only on the benchmark's feed.
POPULATE = """
INSERT INTO categories (url, website, kind, last_synced, next_sync_at, backoff_factor)
SELECT 'https://bench.test/c/' || n, 'bench.test', 'url', now() - interval '1 hour',
       now() + interval '1 year', 1 + n % 8
FROM generate_series(1, $2) AS n;

INSERT INTO subscriptions (user_id, category_id) SELECT 1, id FROM categories;

INSERT INTO subscriptions (user_id, category_id) SELECT 2 + id % 5, id FROM categories WHERE id % 3 = 0;

UPDATE categories c SET subscriber_count = (SELECT count(*) FROM subscriptions s WHERE s.category_id = c.id);

INSERT INTO videos (website, foreign_id, url, title, next_attempt_at, deferred, status, approval,
                    lease_owner, lease_expires_at)
SELECT 'bench.test', 'v' || n, 'https://bench.test/v/' || n, 'video ' || n, now() + interval '1 year',
       s.status = 'pending', s.status::video_status,
       (CASE WHEN n % 37 = 0 THEN 'rejected' WHEN n % 5 = 0 THEN 'approved' ELSE 'unreviewed' END)
           ::approval_state,
       CASE WHEN s.in_flight THEN 'elsewhere' END,
       CASE WHEN s.in_flight THEN now() + interval '1 day' END
FROM generate_series(1, $1) AS n,
LATERAL (SELECT status, status IN ('queued', 'downloading') AS in_flight FROM (
    SELECT CASE WHEN n % 997 = 0 THEN 'downloading' WHEN n % 991 = 0 THEN 'queued'
                WHEN n % 20 = 0 THEN 'failed' WHEN n % 10 < 6 THEN 'done' ELSE 'pending' END AS status
) s) s;

INSERT INTO category_videos (category_id, video_id, position)
SELECT 1 + (id - 1) % $2, id, (id - 1) / $2 FROM videos;

INSERT INTO category_videos (category_id, video_id, position)
SELECT 1 + id % $2, id, $1 + id FROM videos WHERE id % 10 = 0;

INSERT INTO previous_downloads (video_id, category_id, video_service_id)
SELECT id, 1 + (id - 1) % $2, 'bench-' || id FROM videos WHERE status = 'done';

ANALYZE;
"""

# The old design's ListCategories: the categories, then their counts one category at a time.
BASELINE_CATEGORIES = """
SELECT c.id, c.url, c.website, c.last_synced, c.next_sync_at, c.backoff_factor,
       c.subscriber_count, c.disable_download_cache
FROM subscriptions s JOIN categories c ON c.id = s.category_id
WHERE s.user_id = $1
ORDER BY c.id
"""
BASELINE_COUNTS = """
SELECT count(*) AS total_videos,
       count(*) FILTER (WHERE v.status = 'done') AS archived_videos,
       count(*) FILTER (WHERE v.status = 'failed' OR v.approval = 'rejected') AS undownloadable_videos
FROM category_videos cv JOIN videos v ON v.id = cv.video_id
WHERE cv.category_id = $1
"""


@dataclass(frozen=True)
class Load:
    """Per method: callers (each on a channel of its own) and the calls each makes per
    second (0: back to back, the next call as soon as the last one is answered)."""

    callers: dict[str, int]
    rates: dict[str, float]

    @property
    def per_second(self) -> float:
        return sum(n * self.rates[m] for m, n in self.callers.items())

    def describe(self) -> str:
        return ", ".join(
            f"{n} {m}" + (f" x {self.rates[m]:g}/s" if self.rates[m] else "") for m, n in self.callers.items()
        )


@dataclass(frozen=True)
class Scale:
    videos: int
    categories: int
    feed: int  # videos the pipeline delivers in each run
    load: Load  # while the pipeline delivers
    min_load_s: float  # the load runs at least this long, and until the feed is delivered
    probe_s: float  # then, the pipeline idle: the same load; the same callers back to back
    baseline_s: float


@dataclass
class Delivery:
    """One run of the pipeline over the feed, with or without the load."""

    delivered: int
    files: int
    failed: int
    per_second: float
    serve_cpu: float  # cores `scheduler serve` used while it delivered
    machine_busy: float  # the share of all cores busy meanwhile (any process)
    load: dict[str, Any] = field(default_factory=dict)  # the generator's report, if it ran
    idle: dict[str, Any] = field(default_factory=dict)  # the probes' reports, if they ran
    capacity: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runs:
    """The deliveries of one kind (without the load, or with it), pooled."""

    deliveries: list[Delivery]

    def mean(self, value: Callable[[Delivery], float]) -> float:
        return statistics.fmean(value(d) for d in self.deliveries)

    def latencies(self, method: str) -> list[float]:
        return [ms for d in self.deliveries for ms in d.load["latencies"][method]]

    @property
    def load_s(self) -> float:
        return float(sum(d.load["elapsed"] for d in self.deliveries))

    @property
    def errors(self) -> int:
        return sum(sum(d.load["errors"].values()) for d in self.deliveries)

    @property
    def listed(self) -> list[int]:
        return sorted({n for d in self.deliveries for n in d.load["listed"]})


def scale_of(env: Environment) -> Scale:
    callers = (1, 4, 2) if env.scale == "tiny" else (2, 8, 6)
    return Scale(
        videos=int(env.pick(2_000, 17_000, 170_000)),
        categories=int(env.pick(20, 200, 1_000)),
        feed=int(env.pick(20, 100, 400)),
        load=Load(dict(zip(METHODS, callers, strict=True)), dict(zip(METHODS, (1.0, 2.0, 4.0), strict=True))),
        min_load_s=env.pick(1.0, 3.0, 15.0),
        probe_s=env.pick(0.5, 2.5, 8.0),
        baseline_s=env.pick(1.0, 3.0, 15.0),
    )


# The database: populated once, copied for each run.


# One run of the pipeline: serve, the feed scheduled, every video delivered.


async def _value(dsn: str, sql: str, *args: Any) -> Any:
    [row] = await trio_asyncio.aio_as_trio(fetch)(dsn, sql, *args)
    return row[0]


FEED_VIDEOS = (
    "SELECT cv.video_id FROM category_videos cv JOIN categories c ON c.id = cv.category_id WHERE c.url = $1"
)
FEED_DONE = f"SELECT count(*) FROM videos WHERE status = 'done' AND id IN ({FEED_VIDEOS})"
FEED_FAILED = f"SELECT count(*) FROM videos WHERE status = 'failed' AND id IN ({FEED_VIDEOS})"
FEED_DELIVERIES = f"SELECT count(*) FROM previous_downloads WHERE video_id IN ({FEED_VIDEOS})"
# Delivered videos per second, from the end of the feed's listing to the last delivery.
FEED_RATE = f"""
SELECT count(*) / extract(epoch FROM max(d.downloaded_at) - c.last_synced)
FROM previous_downloads d, categories c
WHERE c.url = $1 AND d.video_id IN ({FEED_VIDEOS})
GROUP BY c.last_synced
"""


async def deliver(
    env: Environment,
    dsn: str,
    site: ContentSite,
    feed_url: str,
    scale: Scale,
    stubs: Path | None,
    name: str,
    probe: bool,
) -> Delivery:
    """Serves `dsn`, schedules the feed and waits until it is delivered. With `stubs`, the
    load runs from before the feed is scheduled until it is delivered (and at least
    `min_load_s`); with `probe`, then for `probe_s` each, the pipeline idle: the same load,
    and the same callers back to back."""
    data_dir = env.work / name
    data_dir.mkdir()
    port = free_port()
    environment = serve_environment(env, dsn, data_dir, port)
    target = f"127.0.0.1:{port}"
    log = data_dir / "serve.log"
    load: dict[str, Any] = {}
    idle: dict[str, Any] = {}
    capacity: dict[str, Any] = {}
    async with scheduler_process(environment, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        serve_ps = psutil.Process(serve.pid)
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            if stubs is not None:
                ready = trio.Event()
                nursery.start_soon(_generate_load, stubs, target, site, scale.load, ready, stop, load)
                await ready.wait()
            cpu_start, wall_start, machine_start = _cpu(serve_ps), time.perf_counter(), psutil.cpu_times()
            await trio_asyncio.aio_as_trio(_schedule)(port, feed_url)
            with trio.fail_after(env.pick(60, 120, 300)):
                # Polling on purpose: the work happens in another process.
                while await _value(dsn, FEED_DONE, feed_url) < scale.feed:
                    await trio.sleep(0.2)
                    if serve.poll() is not None:
                        raise AssertionError(f"scheduler exited with {serve.returncode}:\n{log.read_text()}")
            serve_cpu = (_cpu(serve_ps) - cpu_start) / (time.perf_counter() - wall_start)
            machine_busy = _busy(machine_start, psutil.cpu_times())
            if stubs is not None:
                await trio.sleep(max(0.0, scale.min_load_s - (time.perf_counter() - wall_start)))
            stop.set()
        if stubs is not None and probe:
            # The pipeline idle now: the same load alone, then the same callers back to back.
            back_to_back = Load(scale.load.callers, dict.fromkeys(METHODS, 0.0))
            for plan, report in ((scale.load, idle), (back_to_back, capacity)):
                async with trio.open_nursery() as nursery:
                    ready, stop = trio.Event(), trio.Event()
                    nursery.start_soon(_generate_load, stubs, target, site, plan, ready, stop, report)
                    await ready.wait()
                    await trio.sleep(scale.probe_s)
                    stop.set()
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await serve.wait()
    return Delivery(
        delivered=await _value(dsn, FEED_DELIVERIES, feed_url),
        files=sum(1 for _ in (data_dir / "media").glob("*/*/info.json")),
        failed=await _value(dsn, FEED_FAILED, feed_url),
        per_second=float(await _value(dsn, FEED_RATE, feed_url) or 0.0),
        serve_cpu=serve_cpu,
        machine_busy=machine_busy,
        load=load,
        idle=idle,
        capacity=capacity,
    )


async def _schedule(port: int, url: str) -> None:
    # The service's own generated modules: imported here, never in the generator's process.
    from grpclib.client import Channel

    from scheduler.v1 import scheduler_pb2 as pb
    from scheduler.v1.scheduler_grpc import SchedulerStub

    channel = Channel("127.0.0.1", port)
    try:
        await SchedulerStub(channel).ScheduleCategory(
            pb.ScheduleCategoryRequest(url=url, user_id=2), timeout=30
        )
    finally:
        channel.close()


def _busy(start: Any, end: Any) -> float:
    idle = (end.idle + end.iowait) - (start.idle + start.iowait)
    return float(1 - idle / (sum(end) - sum(start)))


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _generate_load(
    stubs: Path,
    target: str,
    site: ContentSite,
    load: Load,
    ready: trio.Event,
    stop: trio.Event,
    report: dict[str, Any],
) -> None:
    """The generator as a child process: it says "ready" once every caller has had an
    answer, calls until its stdin closes, then prints its report (and here, its CPU)."""
    config = {
        "stubs": str(stubs),
        "target": target,
        "callers": load.callers,
        "rates": load.rates,
        "user_id": BIG_USER,
        # New categories for other users (the same empty feed under new URLs): each is listed
        # once by a syncer, and finds nothing to download.
        "feed_url": site.feed_url("empty"),
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks.api_load", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        output = b""
        while b"\n" not in output:
            if not (chunk := await process.stdout.receive_some()):
                raise AssertionError(f"the load generator exited with {await process.wait()}")
            output += chunk
        ready.set()
        ps = psutil.Process(process.pid)
        cpu_start, wall_start = _cpu(ps), time.perf_counter()
        await stop.wait()
        cpu = (_cpu(ps) - cpu_start) / (time.perf_counter() - wall_start)
        await process.stdin.aclose()
        output = output.partition(b"\n")[2]
        while chunk := await process.stdout.receive_some():
            output += chunk
        assert await process.wait() == 0, "the load generator failed"
        report.update(json.loads(output), cpu=cpu)
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


# The generator's side (its own process: the stubs generated from the .proto must not
# meet the service's own generated modules, and its CPU is measured apart).


def _generator_main(config: dict[str, Any]) -> None:
    sys.path.insert(0, config["stubs"])
    asyncio.run(_generator(config))


async def _generator(config: dict[str, Any]) -> None:
    # Imported here: only this process has them (the stubs generated into config["stubs"]).
    import grpc  # type: ignore[import-untyped]
    import scheduler_pb2 as pb  # type: ignore[import-not-found]
    import scheduler_pb2_grpc as rpc  # type: ignore[import-not-found]

    latencies: dict[str, list[float]] = {m: [] for m in METHODS}
    errors: dict[str, int] = dict.fromkeys(METHODS, 0)
    listed: set[int] = set()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request(method: str, caller: int, n: int) -> Any:
        if method == "ScheduleCategory":
            url = f"{config['feed_url']}?caller={caller}&n={n}"
            return pb.ScheduleCategoryRequest(url=url, user_id=1000 + caller)
        if method == "ListCategories":
            return pb.ListCategoriesRequest(user_id=config["user_id"])
        return pb.ListDownloadsRequest()

    async def call(stub: Any, method: str, caller: int, n: int) -> None:
        start = time.perf_counter()
        try:
            response = await getattr(stub, method)(request(method, caller, n), timeout=30)
        except grpc.aio.AioRpcError:
            errors[method] += 1
            return
        latencies[method].append((time.perf_counter() - start) * 1000)
        if method == "ListCategories":
            listed.add(len(response.categories))

    async def caller(method: str, index: int, count: int, warmed: asyncio.Event) -> None:
        period = 1 / config["rates"][method] if config["rates"][method] else 0.0
        # A channel (and connection) of its own: no subchannel shared with the others.
        options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 << 20)]
        async with grpc.aio.insecure_channel(config["target"], options=options) as channel:
            stub = rpc.SchedulerStub(channel)
            await call(stub, method, index, 0)
            warmed.set()
            await started.wait()
            # The callers of one method spread over its period, each at a steady pace; one
            # that falls behind carries on from now rather than catching up in a burst.
            due = loop.time() + period * index / count
            n = 1
            while not stopping.is_set():
                if (delay := due - loop.time()) > 0:
                    await asyncio.sleep(delay)
                else:
                    due = loop.time()
                await call(stub, method, index, n)
                due += period
                n += 1

    plan = [(m, i, count) for m, count in config["callers"].items() for i in range(count)]
    warmed = [asyncio.Event() for _ in plan]
    started = asyncio.Event()
    tasks = [asyncio.create_task(caller(m, i, c, w)) for (m, i, c), w in zip(plan, warmed, strict=True)]
    await asyncio.gather(*(w.wait() for w in warmed))
    for values in latencies.values():
        values.clear()  # the warm-up calls (connections being set up) are not counted
    print("ready", flush=True)
    started.set()
    began = time.perf_counter()
    await loop.run_in_executor(None, sys.stdin.read)  # until stdin closes
    elapsed = time.perf_counter() - began
    stopping.set()
    await asyncio.gather(*tasks)
    print(
        json.dumps({"elapsed": elapsed, "latencies": latencies, "errors": errors, "listed": sorted(listed)})
    )


# The baseline: the old design's ListCategories, straight against the database.


async def baseline_list_categories(
    dsn: str, callers: int, rate: float, seconds: float
) -> tuple[list[float], set[int]]:
    """Latencies (ms) of the old ListCategories, `callers` at `rate` calls/s each (as ours);
    and the number of categories each call listed."""
    latencies: list[float] = []
    listed: set[int] = set()
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            due = time.perf_counter() + index / callers / rate
            while time.perf_counter() < deadline:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due = max(due, time.perf_counter() - 1 / rate) + 1 / rate
                start = time.perf_counter()
                categories = await conn.fetch(BASELINE_CATEGORIES, BIG_USER)
                for category in categories:
                    await conn.fetchrow(BASELINE_COUNTS, category["id"])
                latencies.append((time.perf_counter() - start) * 1000)
                listed.add(len(categories))
        finally:
            await conn.close()

    await asyncio.gather(*(caller(i) for i in range(callers)))
    return latencies, listed


def generate_stubs(directory: Path) -> Path:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    proto_dir = REPO / "proto" / "scheduler" / "v1"
    directory.mkdir()
    arguments = ["protoc", f"-I{proto_dir}", f"--python_out={directory}", f"--grpc_python_out={directory}"]
    assert protoc.main([*arguments, str(proto_dir / "scheduler.proto")]) == 0
    return directory


# Without, with, with, without: a drift in what else the machine runs weighs on both sides alike.
ORDER = (False, True, True, False)


def run(env: Environment) -> Result:
    scale = scale_of(env)
    stubs = generate_stubs(env.work / "api-load-stubs")
    token = uuid.uuid4().hex[:6]  # the feed's ids are this run's own in the shared Redis
    with (
        content_site() as site,
        env.populated_copies("api_load", POPULATE, (scale.videos, scale.categories), len(ORDER)) as databases,
    ):
        names = [f"{token}-{n:05d}" for n in range(scale.feed)]
        for name in names:
            site.add_video(name, size=VIDEO_BYTES)
        # Downloads bound by the site, as real sites bound them: what the load must not slow
        # down is then the workers' turn-around, not a CPU the two share (see the reading).
        site.set_rate(VIDEO_BYTES / DOWNLOAD_S)
        feed_url = site.feed("feed", names)
        site.feed("empty", [])
        deliveries = [
            trio_asyncio.run(
                deliver, env, dsn, site, feed_url, scale, stubs if loaded else None, f"run{n}", n == 2
            )
            for n, (dsn, loaded) in enumerate(zip(databases, ORDER, strict=True))
        ]
        baseline, baseline_listed = asyncio.run(
            baseline_list_categories(
                databases[0],
                scale.load.callers["ListCategories"],
                scale.load.rates["ListCategories"],
                scale.baseline_s,
            )
        )
    quiet = Runs([d for d, loaded in zip(deliveries, ORDER, strict=True) if not loaded])
    loaded = Runs([d for d, loaded in zip(deliveries, ORDER, strict=True) if loaded])
    result = api_load_result(scale, deliveries, quiet, loaded, deliveries[2], baseline, baseline_listed)
    idle = deliveries[2].idle["latencies"]["ListCategories"]
    result.charts.append(chart(env.charts / "api_load.png", loaded, idle, baseline))
    return result


def api_load_result(
    scale: Scale,
    deliveries: list[Delivery],
    quiet: Runs,
    loaded: Runs,
    probed: Delivery,
    baseline: list[float],
    baseline_listed: set[int],
) -> Result:
    ours = loaded.latencies("ListCategories")
    idle, capacity = probed.idle["latencies"]["ListCategories"], probed.capacity
    ours_p99, base_p99 = percentile(ours, 99), percentile(baseline, 99)
    quiet_rate, loaded_rate = quiet.mean(lambda d: d.per_second), loaded.mean(lambda d: d.per_second)
    change = loaded_rate / quiet_rate - 1 if quiet_rate else float("-inf")

    def rates(runs: Runs) -> str:
        return ", ".join(f"{d.per_second:.1f}" for d in runs.deliveries)

    rows = [
        Row(
            "ListCategories p99 under load (ms)",
            f"{base_p99:.1f}",
            f"{ours_p99:.1f}",
            inverse_ratio(base_p99, ours_p99),
            "< 50 ms",
            ours_p99 < 50,
        ),
        Row(
            "ListCategories p50 under load (ms)",
            f"{percentile(baseline, 50):.1f}",
            f"{percentile(ours, 50):.1f}",
            inverse_ratio(percentile(baseline, 50), percentile(ours, 50)),
        ),
        Row("ListCategories p50 / p99, the pipeline idle, same load (ms)", "", _p50_p99(idle)),
        Row(
            "categories per ListCategories answer",
            ", ".join(map(str, sorted(baseline_listed))),
            ", ".join(map(str, loaded.listed)),
        ),
    ]
    for method in METHODS:
        values = loaded.latencies(method)
        rate, p50, p99 = len(values) / loaded.load_s, percentile(values, 50), percentile(values, 99)
        rows.append(
            Row(
                f"{method} under load: requests/s, p50 / p99 (ms)", "", f"{rate:.1f}/s, {p50:.1f} / {p99:.1f}"
            )
        )
    rows += [
        Row(
            "capacity, the same callers back to back, pipeline idle: requests/s (p99 ms)",
            "",
            ", ".join(
                f"{m} {len(v) / capacity['elapsed']:.0f} ({percentile(v, 99):.0f})"
                for m, v in capacity["latencies"].items()
            ),
        ),
        Row(
            "videos delivered/s, without load -> under load (each run)",
            f"{quiet_rate:.1f} ({rates(quiet)})",
            f"{loaded_rate:.1f} ({rates(loaded)}): {change:+.0%}",
            ratio(quiet_rate, loaded_rate),
            "within 10 %",
            change >= -0.10,
        ),
        Row(
            "feed delivered per run (recorded, files, failed)",
            "",
            " / ".join(f"{d.delivered}, {d.files}, {d.failed}" for d in deliveries),
        ),
        Row(
            "RPC errors (under load, back to back)",
            "",
            f"{loaded.errors}, {sum(capacity['errors'].values())}",
        ),
        Row(
            "CPU: serve (cores), all cores busy; without / with load; load generator (cores)",
            "",
            f"{quiet.mean(lambda d: d.serve_cpu):.2f}, {quiet.mean(lambda d: d.machine_busy):.0%} / "
            f"{loaded.mean(lambda d: d.serve_cpu):.2f}, {loaded.mean(lambda d: d.machine_busy):.0%}; "
            f"{loaded.mean(lambda d: d.load['cpu']):.2f}",
        ),
    ]
    return Result(
        key="api_load",
        title="API under load",
        setup=(
            f"One user with {scale.categories:,} categories over {scale.videos:,} videos; `scheduler "
            f"serve` (default workers) delivers a {scale.feed}-video feed to the directory sink, from a "
            f"fresh copy of the database each time: without load, with, with, without. The load: "
            f"{sum(scale.load.callers.values())} grpcio callers, each on its own channel "
            f"({scale.load.describe()}: {scale.load.per_second:.0f} calls/s), {loaded.load_s:.0f} s in all; "
            f"then, the pipeline idle, the same load and the same callers back to back, "
            f"{capacity['elapsed']:.0f} s each. "
            "Baseline: the old design's ListCategories (a COUNT query per category), as many callers "
            "at the same pace, straight to PostgreSQL, the pipeline idle. Serve, PostgreSQL, the "
            "content site and the generator share 2 cores."
        ),
        rows=rows,
    )


def _p50_p99(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"


def chart(path: Path, loaded: Runs, idle: list[float], baseline: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    series = {
        **{f"{m}\n(under load)": loaded.latencies(m) for m in METHODS},
        "ListCategories\n(pipeline idle)": idle,
        "ListCategories, old\n(pipeline idle)": baseline,
    }
    figure, axes = plt.subplots(figsize=(8, 3.6), dpi=100)
    positions = range(len(series))
    for offset, (q, colour) in zip((-0.2, 0.2), ((50, "tab:blue"), (99, "tab:orange")), strict=True):
        values = [percentile(v, q) for v in series.values()]
        axes.bar([p + offset for p in positions], values, width=0.4, color=colour, label=f"p{q}")
    axes.axhline(50, color="grey", linestyle="--", linewidth=1, label="target: ListCategories p99")
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_xticks(list(positions), list(series), fontsize=8)
    axes.set_ylabel("latency (ms)")
    axes.set_title("Latency per method while the pipeline delivers")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


if __name__ == "__main__":
    _generator_main(json.loads(sys.argv[1]))
