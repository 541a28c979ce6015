"""The soak: several `scheduler serve` processes, hundreds of videos, random faults.

    nox -s soak -- [--instances 3] [--videos 300] [--new-per-minute 5] [--minutes 3] [--seed 1]
                   [--report docs/reliability.md]

Its own PostgreSQL and three Redis servers (embedded, so it can restart them), the local
content site and a fake Horahora Video Service. For the fault phase it injects, at random:
SIGKILL of an instance (then a restart), a PostgreSQL restart, a Redis restart, trickling
downloads, and 20 % of uploads refused; meanwhile new videos keep appearing in the feeds.
Every minute it samples each instance's RSS and open file descriptors. Then the faults stop
and it waits for the work to drain. It passes when every video was delivered exactly once
and byte-identical, nothing is stuck, and the instance that was never killed kept its
memory and file descriptors flat after the warm-up (the first 10 minutes, or the first
third of a shorter run): least-squares slopes under 1 MiB and under 1 descriptor per 10
minutes (their number follows the connections in flight; a leak climbs).
With --report it writes the figures into docs/reliability.md and the survivor's samples as
a chart beside it (docs/soak.svg). Not part of CI: it takes minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import trio
import trio_asyncio

from scheduler import embedded
from tests.content_site import content_site
from tests.fake_video_service import running_fake_horahora
from tests.support import REPO, clean_environment, free_port, scheduler_command

MARKER_START, MARKER_END = "<!-- soak:start -->", "<!-- soak:end -->"
WARM_UP_S = 600.0
RSS_SLOPE_LIMIT = 2**20  # bytes per 10 minutes
FD_SLOPE_LIMIT = 1.0  # descriptors per 10 minutes: their number follows the work in flight, a leak climbs


@dataclass(frozen=True)
class Sample:
    at_s: float  # since the fault phase began
    pid: int
    rss: int
    fds: int


@dataclass
class Instance:
    name: str
    data_dir: Path
    environment: dict[str, str]
    process: trio.Process | None = None
    kills: int = 0
    samples: list[Sample] = field(default_factory=list)

    async def start(self) -> None:
        port = free_port()
        self.environment["SCHEDULER_GRPC__PORT"] = str(port)
        log = (self.data_dir / f"serve-{self.kills}.log").open("wb")
        self.process = await trio.lowlevel.open_process(
            scheduler_command("serve"), env=self.environment, stdout=log, stderr=log, cwd=REPO
        )
        with trio.fail_after(120):
            while True:
                try:
                    await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                    return
                except OSError:
                    await trio.sleep(0.1)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.environment['SCHEDULER_GRPC__PORT']}"

    def sample(self, at_s: float) -> None:
        assert self.process is not None
        try:
            proc = psutil.Process(self.process.pid)
            self.samples.append(Sample(at_s, proc.pid, proc.memory_info().rss, proc.num_fds()))
        except psutil.NoSuchProcess:
            pass  # killed by the fault injector a moment ago

    def settled(self, warm_up_s: float) -> list[Sample]:
        """The samples of this instance's last process, after its warm-up."""
        if not self.samples:
            return []
        pid = self.samples[-1].pid
        mine = [s for s in self.samples if s.pid == pid]
        return [s for s in mine if s.at_s >= mine[0].at_s + warm_up_s]


def descriptors_by_peer(pid: int, peers: dict[int, str]) -> dict[str, int]:
    """A process's open descriptors by what they lead to: a TCP peer named by its port (the
    Video Service, the content site), the program at the other end of a Unix socket
    (postgres, redis-server: the embedded servers listen on Unix sockets; from `ss`),
    and the rest."""
    proc = psutil.Process(pid)
    kinds: dict[str, int] = {}
    tcp = proc.net_connections(kind="inet")
    for connection in tcp:
        name = peers.get(connection.raddr.port, "other TCP") if connection.raddr else "listening"
        kinds[name] = kinds.get(name, 0) + 1
    unix = _unix_socket_peers(pid)
    for name in unix:
        kinds[name] = kinds.get(name, 0) + 1
    kinds["files, pipes, epoll"] = proc.num_fds() - len(tcp) - len(unix)
    return dict(sorted(kinds.items()))


def _unix_socket_peers(pid: int) -> list[str]:
    """For each Unix socket `pid` holds, the program at its other end (from `ss -xpn`)."""
    try:
        lines = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return []
    owner_of: dict[str, str] = {}  # socket inode -> the program holding it
    mine: list[str] = []  # peer inodes of pid's sockets
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        inode, peer_inode, users = fields[5], fields[7], " ".join(fields[8:])
        program = users.split('"')[1] if '"' in users else "?"
        owner_of[inode] = program
        if f"pid={pid}," in users:
            mine.append(peer_inode)
    return [owner_of.get(peer, "unix socket") for peer in mine]


def slope_per_10_min(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    """Least-squares slope of `value` over time, per 10 minutes."""
    n = len(samples)
    mean_t = sum(s.at_s for s in samples) / n
    mean_v = sum(value(s) for s in samples) / n
    spread = sum((s.at_s - mean_t) ** 2 for s in samples)
    if spread == 0:
        return 0.0
    return 600 * sum((s.at_s - mean_t) * (value(s) - mean_v) for s in samples) / spread


async def query(dsn: str, sql: str) -> Any:
    async def run() -> Any:
        connection = await asyncpg.connect(dsn)
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    return await trio_asyncio.aio_as_trio(run)()


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="scheduler-soak-"))
    print(f"working in {root}", flush=True)
    postgres = await trio.to_thread.run_sync(embedded.start_postgres, root / "postgres")
    redis = [await trio.to_thread.run_sync(embedded.start_redis, root / f"redis{i}") for i in range(3)]
    faults: dict[str, int] = {"kill": 0, "postgres": 0, "redis": 0, "trickle": 0}
    instances: list[Instance] = []
    try:
        with content_site() as site:
            names = [f"v{i:04d}" for i in range(args.videos)]
            for name in names:
                site.add_video(name, size=rng.randint(20_000, 300_000))
            feeds = [sorted(rng.sample(names, k=max(1, len(names) // 3))) for _ in range(6)]
            feeds[0] = sorted(
                set(feeds[0]) | (set(names) - {n for f in feeds for n in f})
            )  # every video listed
            feed_urls = [site.feed(f"feed{i}", videos) for i, videos in enumerate(feeds)]
            async with running_fake_horahora() as fake:
                fake.keep_bytes = False
                for i in range(args.instances):
                    environment = clean_environment(
                        SCHEDULER_DATA_DIR=str(root / f"instance{i}"),
                        SCHEDULER_DATABASE__URL=postgres.url,
                        SCHEDULER_REDIS__URLS=json.dumps([r.url for r in redis]),
                        SCHEDULER_GRPC__HOST="127.0.0.1",
                        SCHEDULER_SITES__ALLOWED=json.dumps(["127.0.0.1"]),
                        SCHEDULER_VIDEO_SERVICE__KIND="horahora",
                        SCHEDULER_VIDEO_SERVICE__ADDRESS=fake.address,
                        SCHEDULER_VIDEO_SERVICE__TIMEOUT_S="20",
                        SCHEDULER_SCHEDULE__LEASE_S="3",
                        SCHEDULER_SCHEDULE__POLL_INTERVAL_S="1",
                        SCHEDULER_LOCK__TTL_S="3",
                        SCHEDULER_DOWNLOADER__WORKERS="4",
                        SCHEDULER_DOWNLOADER__ATTEMPTS="1000",  # faults must delay, never fail
                        SCHEDULER_DOWNLOADER__RETRY_BASE_S="0.5",
                        SCHEDULER_DOWNLOADER__RETRY_MAX_S="5",
                        SCHEDULER_DOWNLOADER__TIMEOUT_S="20",
                        SCHEDULER_SYNC__RETRY_S="2",
                        SCHEDULER_SYNC__MIN_BACKOFF_S="20",
                        SCHEDULER_SYNC__MAX_BACKOFF_FACTOR="1",
                        SCHEDULER_SHUTDOWN__GRACE_S="2",
                    )
                    (root / f"instance{i}").mkdir()
                    instances.append(Instance(f"instance{i}", root / f"instance{i}", environment))
                async with trio.open_nursery() as nursery:
                    for instance in instances:
                        nursery.start_soon(instance.start)
                for url in feed_urls:
                    user = str(rng.randint(1, 5))
                    done = await trio.run_process(
                        scheduler_command("schedule", url, "--user", user, "--target", instances[0].target),
                        capture_stdout=True,
                        capture_stderr=True,
                        check=False,
                    )
                    assert done.returncode == 0, done.stderr.decode()
                started = time.monotonic()
                warm_up_s = min(WARM_UP_S, args.minutes * 60 / 3)

                peers = {fake.port: "video service", site.port: "content site"}
                breakdowns: dict[str, dict[str, int]] = {}

                async def sample_every_minute() -> None:
                    while True:
                        for instance in instances:
                            instance.sample(time.monotonic() - started)
                        if "after warm-up" not in breakdowns and time.monotonic() - started >= warm_up_s:
                            assert instances[0].process is not None
                            breakdowns["after warm-up"] = descriptors_by_peer(instances[0].process.pid, peers)
                        await trio.sleep(60)

                async def new_videos_every_minute() -> None:
                    while True:
                        await trio.sleep(60)
                        for _ in range(args.new_per_minute):
                            name = f"v{len(names):04d}"
                            site.add_video(name, size=rng.randint(20_000, 300_000))
                            names.append(name)
                            feeds[rng.randrange(len(feeds))].append(name)
                        for i, videos in enumerate(feeds):
                            site.feed(f"feed{i}", videos)

                async def inject_faults(deadline: float) -> None:
                    nonlocal postgres
                    while time.monotonic() < deadline:
                        await trio.sleep(rng.uniform(3, 8))
                        fault = rng.choice(list(faults))
                        faults[fault] += 1
                        if fault == "kill" and len(instances) > 1:
                            victim = rng.choice(instances[1:])  # instances[0] is the survivor we measure
                            assert victim.process is not None
                            victim.process.kill()
                            await victim.process.wait()
                            victim.kills += 1
                            await trio.sleep(rng.uniform(0.5, 3))
                            await victim.start()
                        elif fault == "postgres":
                            await trio.to_thread.run_sync(postgres.stop)
                            await trio.sleep(rng.uniform(1, 3))
                            postgres = await trio.to_thread.run_sync(
                                embedded.start_postgres, root / "postgres"
                            )
                        elif fault == "redis":
                            index = rng.randrange(len(redis))
                            await trio.to_thread.run_sync(redis[index].stop)
                            await trio.sleep(rng.uniform(1, 3))
                            redis[index] = await trio.to_thread.run_sync(
                                embedded.start_redis, root / f"redis{index}"
                            )
                        else:
                            slow = rng.sample(names, k=3)
                            for name in slow:
                                site.set_mode(name, "trickle")
                            await trio.sleep(rng.uniform(2, 5))
                            for name in slow:
                                site.set_mode(name, "ok")

                fake.fail_ratio = 0.2
                deadline = started + args.minutes * 60
                async with trio.open_nursery() as background:
                    background.start_soon(sample_every_minute)
                    background.start_soon(new_videos_every_minute)
                    await inject_faults(deadline)
                    background.cancel_scope.cancel()
                fake.fail_ratio = 0.0
                fault_phase_s = time.monotonic() - started
                with trio.fail_after(args.drain_minutes * 60):
                    done_sql = "SELECT count(*) FROM videos WHERE status = 'done'"
                    # Polling on purpose: other processes do the work.
                    while await query(postgres.url, done_sql) < len(names):  # noqa: ASYNC110
                        await trio.sleep(1)
                drained_s = time.monotonic() - started - fault_phase_s
                for instance in instances:
                    instance.sample(time.monotonic() - started)
                assert instances[0].process is not None
                breakdowns["at the end"] = descriptors_by_peer(instances[0].process.pid, peers)
                stuck = await query(postgres.url, "SELECT count(*) FROM videos WHERE lease_owner IS NOT NULL")
                failed = await query(postgres.url, "SELECT count(*) FROM videos WHERE status = 'failed'")
                exit_codes = []
                for instance in instances:
                    assert instance.process is not None
                    instance.process.send_signal(signal.SIGTERM)
                for instance in instances:
                    assert instance.process is not None
                    with trio.fail_after(30):
                        exit_codes.append(await instance.process.wait())
                uploads: dict[str, list[str]] = {}
                for upload in fake.uploads:
                    assert upload.meta is not None
                    uploads.setdefault(upload.meta.originalID, []).append(upload.video_sha256.hexdigest())
                expected = {n: hashlib.sha256(site.video_bytes(n)).hexdigest() for n in names}
        survivor = instances[0]
        settled = survivor.settled(warm_up_s)
        first, last = survivor.samples[0], survivor.samples[-1]
        return {
            "instances": args.instances,
            "videos": len(names),
            "fault phase (s)": round(fault_phase_s),
            "drain after faults (s)": round(drained_s),
            "faults injected": faults,
            "delivered exactly once": sum(len(v) == 1 for v in uploads.values()),
            "delivered more than once": sum(len(v) > 1 for v in uploads.values()),
            "second uploads refused by the Video Service": fake.duplicates_refused,
            "missing": len(set(names) - set(uploads)),
            "byte-identical": sum(uploads.get(n, [""])[0] == sha for n, sha in expected.items()),
            "left in flight": stuck,
            "failed": failed,
            "exit codes": exit_codes,
            "survivor RSS (MiB) start -> end": f"{first.rss / 2**20:.1f} -> {last.rss / 2**20:.1f}",
            "survivor open fds start -> end": f"{first.fds} -> {last.fds}",
            f"survivor RSS slope after {warm_up_s / 60:.0f} min (MiB per 10 min)": (
                f"{slope_per_10_min(settled, lambda s: s.rss) / 2**20:+.2f} over {len(settled)} samples"
            ),
            f"survivor open fds after {warm_up_s / 60:.0f} min (min .. max; slope per 10 min)": (
                f"{min(s.fds for s in settled)} .. {max(s.fds for s in settled)}; "
                f"{slope_per_10_min(settled, lambda s: s.fds):+.2f}"
            ),
            **{f"survivor's descriptors {when}": kinds for when, kinds in breakdowns.items()},
            "restarted instances: processes sampled, largest RSS (MiB)": (
                f"{sum(len({s.pid for s in i.samples}) for i in instances[1:])}, "
                f"{max((s.rss for i in instances[1:] for s in i.samples), default=0) / 2**20:.1f}"
            ),
            "_rss_slope": slope_per_10_min(settled, lambda s: s.rss),
            "_fd_slope": slope_per_10_min(settled, lambda s: s.fds),
            "_samples": [[(s.at_s, s.pid, s.rss, s.fds) for s in i.samples] for i in instances],
            "_warm_up_s": warm_up_s,
        }
    finally:
        for instance in instances:
            if instance.process is not None and instance.process.returncode is None:
                instance.process.kill()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(postgres.stop)
            for server in redis:
                await trio.to_thread.run_sync(server.stop)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def verdict(result: dict[str, Any]) -> list[str]:
    problems = []
    if result["delivered exactly once"] != result["videos"] or result["missing"]:
        problems.append("not every video was delivered exactly once")
    if result["delivered more than once"] or result["second uploads refused by the Video Service"]:
        problems.append("a video was uploaded twice")
    if result["byte-identical"] != result["videos"]:
        problems.append("a delivered video differs from the site's")
    if result["left in flight"] or result["failed"]:
        problems.append("videos left in flight or failed")
    if any(result["exit codes"]):
        problems.append("an instance did not exit 0 on SIGTERM")
    if result["_rss_slope"] > RSS_SLOPE_LIMIT or result["_fd_slope"] > FD_SLOPE_LIMIT:
        problems.append("the survivor's memory or file descriptors grew after the warm-up")
    return problems


def chart(samples: list[tuple[float, int, int, int]], warm_up_s: float) -> str:
    """The survivor's RSS (MiB, left axis) and open descriptors (right axis) over minutes,
    as a small self-contained SVG; the warm-up is shaded."""
    width, height, left, right, top, bottom = 640, 260, 50, 50, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    end_min = max(max(t for t, *_ in samples) / 60, 1)
    rss = [r / 2**20 for _, _, r, _ in samples]
    fds = [f for *_, f in samples]
    rss_top = max(rss) * 1.2
    fds_top = max(fds) * 1.5

    def x(minutes: float) -> float:
        return left + plot_w * minutes / end_min

    def line(values: list[float], top_value: float, colour: str) -> str:
        points = " ".join(
            f"{x(t / 60):.1f},{top + plot_h * (1 - v / top_value):.1f}"
            for (t, *_), v in zip(samples, values, strict=True)
        )
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'

    ticks = "".join(
        f'<text x="{x(m):.1f}" y="{height - bottom + 16}" text-anchor="middle">{m:.0f}</text>'
        for m in range(0, int(end_min) + 1, max(1, int(end_min) // 6))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">'
        f'<rect x="{left}" y="{top}" width="{x(warm_up_s / 60) - left:.1f}" height="{plot_h}" fill="#eee"/>'
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
        f"{line(rss, rss_top, '#1f77b4')}{line([float(f) for f in fds], fds_top, '#d62728')}"
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" fill="#1f77b4">{rss_top:.0f}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" fill="#1f77b4">0</text>'
        f'<text x="{width - right + 6}" y="{top + 8}" fill="#d62728">{fds_top:.0f}</text>'
        f'<text x="{width - right + 6}" y="{top + plot_h}" fill="#d62728">0</text>'
        f"{ticks}"
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">minutes '
        f'(shaded: warm-up) · <tspan fill="#1f77b4">RSS, MiB</tspan> · '
        f'<tspan fill="#d62728">open file descriptors</tspan></text>'
        f"</svg>\n"
    )


def write_report(path: Path, args: argparse.Namespace, result: dict[str, Any], problems: list[str]) -> None:
    cpu, memory = psutil.cpu_count(), psutil.virtual_memory().total / 2**30
    survivor = [s for s in result["_samples"][0] if s[1] == result["_samples"][0][-1][1]]
    chart_path = path.with_name("soak.svg")
    chart_path.write_text(chart(survivor, result["_warm_up_s"]))
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items() if not k.startswith("_"))
    outcome = "passed" if not problems else "FAILED: " + "; ".join(problems)
    section = (
        f"{MARKER_START}\n"
        f"Last run: `nox -s soak -- --instances {args.instances} --videos {args.videos} "
        f"--new-per-minute {args.new_per_minute} --minutes {args.minutes} --seed {args.seed}` "
        f"on {cpu} cores, {memory:.0f} GiB, {time.strftime('%Y-%m-%d')}: **{outcome}**.\n\n"
        f"| measure | value |\n|---|---|\n{rows}\n\n"
        f"![The survivor's RSS and open file descriptors, sampled each minute]({chart_path.name})\n"
        f"{MARKER_END}"
    )
    text = path.read_text()
    text = re.sub(f"{re.escape(MARKER_START)}.*{re.escape(MARKER_END)}", lambda _: section, text, flags=re.S)
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument(
        "--new-per-minute", type=int, default=5, help="new videos added to the feeds each minute"
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--drain-minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the servers' data and logs (printed)")
    parser.add_argument(
        "--report",
        type=lambda s: Path(s) if s else None,
        default=REPO / "docs" / "reliability.md",
        help='the page whose soak section the result replaces ("": none)',
    )
    args = parser.parse_args()
    result = trio_asyncio.run(soak, args)
    problems = verdict(result)
    for key, value in result.items():
        if not key.startswith("_"):
            print(f"{key}: {value}")
    if args.report:
        write_report(args.report, args, result, problems)
    print("PASSED" if not problems else "FAILED: " + "; ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
