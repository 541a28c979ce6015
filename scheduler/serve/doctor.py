"""What the service needs, and whether it has it: `scheduler doctor` and the Diagnose RPC.

Each finding is one line: what was checked, what was found and, for a problem, what to
do. Both ask the same questions; `scheduler doctor` of the machine and settings it runs
with (before a service starts, or beside it), Diagnose of the running service (its
database pool, its Redis servers, its Video Service). Every probe of another server is
bounded by PROBE_TIMEOUT_S.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import trio
import trio_asyncio

from scheduler.db.probe import probe as probe_database
from scheduler.findings import Finding
from scheduler.pipeline.ytdlp import Programs
from scheduler.pipeline.ytdlp.pool import WorkerPool
from scheduler.programs import release_age_days, ytdlp_version
from scheduler.serve.probes import probe_redis
from scheduler.settings import Settings, redact
from scheduler.sites.cookies import CookieJars, day
from scheduler.video_service.base import VideoService, VideoServiceError
from scheduler.video_service.open import open_video_service

PROBE_TIMEOUT_S = 5.0
# Sites change their pages and players all the time; a yt-dlp older than this starts failing.
RELEASE_AGE_WARNING_DAYS = 60
UPDATE_YT_DLP = "update it: rebuild the image, or pip install -U 'yt-dlp[default,deno]' (docs/operations.md)"


def ytdlp_finding(version: str, today: date) -> Finding:
    age = release_age_days(version, today)
    if age != age:  # NaN: a version that names no day
        return Finding("yt-dlp", False, f"version {version} names no release day", UPDATE_YT_DLP)
    detail = f"{version}, released {age:.0f} days ago"
    if age > RELEASE_AGE_WARNING_DAYS:
        return Finding("yt-dlp", False, f"{detail} (sites change and old versions break)", UPDATE_YT_DLP)
    return Finding("yt-dlp", True, detail)


def program_findings(programs: Programs) -> list[Finding]:
    if programs.js_runtime is None:
        problem = programs.js_runtime_problem  # none configured, or it does not run
    elif programs.js_runtime_problem:
        problem = f"{programs.js_runtime}: {programs.js_runtime_problem}"
    elif not programs.solver_scripts:
        problem = f"{programs.js_runtime}, but no solver scripts (the yt-dlp-ejs package)"
    else:
        problem = ""
    js = (
        Finding(
            "javascript runtime", True, f"{programs.js_runtime}, solver scripts {programs.solver_scripts}"
        )
        if not problem
        else Finding(
            "javascript runtime",
            False,
            problem,
            "YouTube gives few formats or none without one: set SCHEDULER_DOWNLOADER__JS_RUNTIME to "
            "\"auto\" (the deno the package ships) and pip install 'yt-dlp[default,deno]'",
        )
    )
    ffmpeg = (
        Finding("ffmpeg", True, programs.ffmpeg)
        if programs.ffmpeg
        else Finding(
            "ffmpeg",
            False,
            "none found",
            "separate video and audio streams cannot be merged: install ffmpeg, or set "
            "SCHEDULER_DOWNLOADER__FFMPEG to one",
        )
    )
    return [js, ffmpeg]


def cookie_findings(jars: CookieJars, now: float) -> list[Finding]:
    findings = []
    for pattern, site in jars.sites.items():
        until = "session cookies" if site.expires_at is None else f"nearest expiry {day(site.expires_at)}"
        detail = f"{site.path}: {len(site.cookies)} cookies for {', '.join(site.domains)}, {until}"
        if (expiry := site.expiry(now)) is None:
            findings.append(Finding(f"cookies {pattern}", True, detail))
        else:
            fix = "export them again (docs/operations.md#exporting-cookies)"
            findings.append(Finding(f"cookies {pattern}", False, f"{detail} ({expiry})", fix))
    return findings


async def _probe(check: str, probe: Callable[[], Awaitable[object]], fix: str, ok: str) -> Finding:
    """Runs one probe of another server, bounded; its failure becomes a finding."""
    with trio.move_on_after(PROBE_TIMEOUT_S):
        try:
            await probe()
        except Exception as error:
            return Finding(check, False, str(error).splitlines()[0][:300] or type(error).__name__, fix)
        return Finding(check, True, ok)
    return Finding(check, False, f"no answer within {PROBE_TIMEOUT_S:g}s", fix)


async def _resolve(host: str) -> None:
    try:
        await trio.socket.getaddrinfo(host, 443)
    except OSError as error:
        raise OSError(f"does not resolve ({error.strerror or error})") from None


def _exact_hosts(allowed: tuple[str, ...]) -> list[str]:
    """The allowed hosts whose name can be looked up: not "*.domain" patterns, not addresses."""
    hosts = []
    for entry in allowed:
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            if not entry.startswith("*."):
                hosts.append(entry)
    return hosts


@dataclass(frozen=True)
class Servers:
    """How to reach the servers the service uses. `database` None: an embedded one that
    `serve` starts; `redis_urls` empty: likewise."""

    database: Callable[[], Awaitable[object]] | None
    redis_urls: tuple[str, ...]
    video_service: VideoService


async def diagnose(
    settings: Settings, jars: CookieJars, servers: Servers, ytdlp_workers: WorkerPool
) -> list[Finding]:
    """Every finding, in a fixed order; the probes run at once. What yt-dlp finds to run is
    asked of one of its workers."""
    async with ytdlp_workers.worker() as worker:
        programs = await worker.programs(settings.downloader)
    findings = [
        ytdlp_finding(ytdlp_version(), datetime.now(UTC).date()),
        *program_findings(programs),
        *cookie_findings(jars, time.time()),
    ]
    # (check, probe, fix, what an answer means), each probed at once.
    probes: list[tuple[str, Callable[[], Awaitable[object]], str, str]] = []
    if servers.database is None:
        findings.append(Finding("postgresql", True, f"embedded, started by serve in {settings.data_dir}"))
    else:
        probes.append(
            ("postgresql", servers.database, "check SCHEDULER_DATABASE__URL and that it runs", "answers")
        )
    if not servers.redis_urls:
        findings.append(Finding("redis", True, f"embedded, started by serve in {settings.data_dir}"))
    for url in servers.redis_urls:
        fix = "check SCHEDULER_REDIS__URLS and that it runs"
        ping = functools.partial(probe_redis, url, PROBE_TIMEOUT_S)
        probes.append((f"redis {redact(url)}", ping, fix, "answers"))
    service = settings.video_service
    where = {"directory": str(service.directory), "horahora": service.address, "http": service.url}
    exists = functools.partial(servers.video_service.exists, "doctor.invalid", "scheduler-doctor")
    fix = "check SCHEDULER_VIDEO_SERVICE__* and that the Video Service runs"
    probes.append((f"video service {service.kind} {where[service.kind]}", exists, fix, "answers"))
    for host in _exact_hosts(settings.sites.allowed):
        fix = "check the machine's DNS and network, or SCHEDULER_SITES__ALLOWED"
        probes.append((f"site {host}", functools.partial(_resolve, host), fix, "resolves"))
    results = [Finding(check, False, "not probed", fix) for check, _, fix, _ in probes]

    async def run(index: int) -> None:
        results[index] = await _probe(*probes[index])

    async with trio.open_nursery() as nursery:
        for index in range(len(probes)):
            nursery.start_soon(run, index)
    return findings + results


async def diagnose_here(settings: Settings) -> list[Finding]:
    """`scheduler doctor` without --target: this machine with these settings, as `serve`
    would start (inside trio-asyncio's loop)."""
    database: Callable[[], Awaitable[object]] | None = None
    if url := settings.database.url:
        database = functools.partial(trio_asyncio.aio_as_trio(probe_database), url, PROBE_TIMEOUT_S)
    try:
        async with (
            open_video_service(settings.video_service) as video_service,
            WorkerPool.open(settings.downloader) as ytdlp_workers,
        ):
            servers = Servers(database, settings.redis.urls, video_service)
            return await diagnose(settings, CookieJars(settings.sites.cookies), servers, ytdlp_workers)
    except VideoServiceError as error:  # it cannot even be opened (a directory not creatable)
        return [Finding("video service", False, str(error), "check SCHEDULER_VIDEO_SERVICE__*")]
