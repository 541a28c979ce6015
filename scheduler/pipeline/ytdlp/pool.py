"""The yt-dlp worker processes (worker.py; the protocol is protocol.py's): started and
set up before they are needed, one job at a time each, killed when a job must stop,
replaced when one dies, and recycled after WORKER_MAX_JOBS jobs or past
WORKER_MAX_RSS_MB.

A job's cancellation (CancelDownload, the timeout, a lost lease, a shutdown past its
grace) kills its worker at once, wherever yt-dlp is, even blocked in a socket read: a
thread could only stop at yt-dlp's next progress call. The processes are this one's
children; the pool's owner closes it, and with it every worker, on the way out.

A caller takes a worker (`async with pool.worker() as ytdlp:`) before it waits for the
site's turn, so that the request goes out when the turn comes, not a process start later.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

import psutil
import trio

from scheduler.cleanup import cleanup_scope
from scheduler.pipeline.ytdlp.protocol import (
    cookie_as_data,
    downloaded_from_data,
    listing_from_data,
    programs_from_data,
    raise_failure,
    settings_as_data,
)
from scheduler.pipeline.ytdlp.results import Downloaded, Listing, Programs, Progress, Skipped
from scheduler.profiles import Profile, to_json
from scheduler.settings import DownloaderSettings

log = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "scheduler.pipeline.ytdlp.worker")
# An answer is one JSON line; a video's info may be large, but not this large.
MAX_LINE = 64 << 20
# A worker's log line is cut to this many characters.
MAX_LOG = 4000
# A worker asked to end (its input closed) is killed if it is still there after this long.
STOP_S = 1.0


class WorkerDied(Exception):
    """The worker ended in the middle of a job (killed, or crashed in a native library);
    str() says how."""


class Worker:
    """One worker process, set up and ready for jobs."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.jobs = 0
        self._buffer = bytearray()

    async def download(
        self,
        url: str,
        workdir: Path,
        settings: DownloaderSettings,
        progress: Progress,
        allowed: tuple[str, ...],
        cookies: Iterable[Cookie] = (),
        listed_thumbnail: str = "",
        profiles: Sequence[Profile] = (),
        listed: Mapping[str, Any] | None = None,
    ) -> Downloaded | Skipped:
        """ytdlp.download, in this worker: the same result and errors, or WorkerDied."""
        job = _job("download", url, settings, allowed, cookies)
        job |= {
            "workdir": str(workdir),
            "listed_thumbnail": listed_thumbnail,
            "profiles": [to_json(p) for p in profiles],
            "listed": dict(listed or {}),
        }
        return downloaded_from_data(_done(await self._run(job, progress=progress)))

    async def format_problem(self, selector: str) -> str:
        """What yt-dlp finds wrong with a format selector; "" when it parses."""
        return str(_done(await self._run({"job": "format", "selector": selector}))["problem"])

    async def list_category(
        self,
        url: str,
        website: str,
        settings: DownloaderSettings,
        allowed: tuple[str, ...],
        first: int = 0,
        known: frozenset[tuple[str, str]] | None = None,
        on_page: Callable[[Listing], Awaitable[None]] | None = None,
        page_entries: int = 0,
        cookies: Iterable[Cookie] = (),
    ) -> Listing:
        """ytdlp.list_category, in this worker. `on_page` is awaited for each page before
        the listing reads on; an error from it ends the listing (and the worker)."""
        job = _job("list", url, settings, allowed, cookies)
        job |= {
            "website": website,
            "first": first,
            "known": None if known is None else sorted(known),
            "paged": on_page is not None,
            "page_entries": page_entries,
        }
        return listing_from_data(_done(await self._run(job, on_page=on_page)))

    async def video_tags(
        self, url: str, settings: DownloaderSettings, allowed: tuple[str, ...], cookies: Iterable[Cookie] = ()
    ) -> tuple[str, ...]:
        """ytdlp.video_tags, in this worker."""
        done = _done(await self._run(_job("tags", url, settings, allowed, cookies)))
        return tuple(str(tag) for tag in done["tags"])

    async def names_a_media_file(self, url: str) -> bool:
        """Whether the URL names a media file or stream (a feed's enclosure), by yt-dlp's
        own list of extensions: such a URL has no page that could carry tags."""
        return bool(_done(await self._run({"job": "media_file", "url": url}))["media_file"])

    async def programs(self, settings: DownloaderSettings) -> Programs:
        """What yt-dlp, set up as for a download, finds to run (for `scheduler doctor`)."""
        job = {"job": "programs", "settings": settings_as_data(settings)}
        return programs_from_data(_done(await self._run(job)))

    async def _run(
        self,
        job: dict[str, Any],
        *,
        progress: Progress | None = None,
        on_page: Callable[[Listing], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Runs the job: its answer, with its progress and pages on the way. Whatever stops
        it half-way (a cancel, a page that cannot be stored, a worker that misbehaves) kills
        the worker where it is."""
        try:
            await self._send(job)
            while True:
                message = await self._receive()
                if "progress" in message:
                    if progress is not None:
                        done, total = message["progress"]
                        progress.update(int(done), int(total))
                elif "page" in message and on_page is not None:
                    await on_page(listing_from_data(message["page"]))
                    await self._send({"go_on": True})
                elif "log" in message:
                    level, name, text = message["log"]
                    logging.getLogger(str(name)).log(int(level), "%s", str(text)[:MAX_LOG])
                else:
                    self.jobs += 1
                    return message
        except BaseException:
            self.process.kill()
            with cleanup_scope():
                await self.process.wait()
            raise

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send_all(json.dumps(message).encode() + b"\n")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self.process.wait()
            raise WorkerDied(_death(self.process.returncode)) from None

    async def _receive(self) -> dict[str, Any]:
        """The next message; WorkerDied when the worker ended or sent something else."""
        assert self.process.stdout is not None
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise WorkerDied("the download worker sent a line over the limit")
            data = await self.process.stdout.receive_some(1 << 16)
            if not data:
                with cleanup_scope():
                    await self.process.wait()
                raise WorkerDied(_death(self.process.returncode))
            self._buffer += data
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            message = json.loads(line)
        except ValueError:
            raise WorkerDied("the download worker sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise WorkerDied("the download worker sent something that is not a message")
        return message

    def running(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        try:
            return float(psutil.Process(self.process.pid).memory_info().rss) / (1 << 20)
        except psutil.Error:
            return 0.0


def _death(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"the download worker died: signal {-returncode} ({signal.Signals(-returncode).name})"
    return f"the download worker died: exit status {returncode}"


def _job(
    kind: str, url: str, settings: DownloaderSettings, allowed: tuple[str, ...], cookies: Iterable[Cookie]
) -> dict[str, Any]:
    return {
        "job": kind,
        "url": url,
        "settings": settings_as_data(settings),
        "allowed": list(allowed),
        "cookies": [cookie_as_data(c) for c in cookies],
        "log_level": logging.getLogger("scheduler").getEffectiveLevel(),
    }


def _done(answer: dict[str, Any]) -> dict[str, Any]:
    """A job's result; its failure raised as the error yt-dlp raised in the worker."""
    if "failed" in answer:
        raise_failure(answer["failed"])
    done: dict[str, Any] = answer["done"]
    return done


class WorkerPool:
    def __init__(self, settings: DownloaderSettings) -> None:
        self._settings = settings
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self.started = 0  # workers started in all

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: DownloaderSettings) -> AsyncIterator[WorkerPool]:
        """The pool for these yt-dlp settings (every worker is set up with them)."""
        pool = cls(settings)
        try:
            yield pool
        finally:
            await _stop([*pool._idle, *pool._busy])

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        """A worker, set up and ready, for the block's jobs; back to the pool after it, or
        replaced when it died, was killed, or is due for recycling."""
        worker = await self._take()
        self._busy.add(worker)
        try:
            yield worker
        finally:
            self._busy.discard(worker)
            if worker.running():
                await self._put_back(worker)

    async def format_problem(self, selector: str) -> str:
        """What yt-dlp finds wrong with a format selector ("" when nothing is), asked of a
        worker: the API checks a profile's selector with it."""
        async with self.worker() as worker:
            return await worker.format_problem(selector)

    async def _take(self) -> Worker:
        """An idle worker that still runs, else a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.running():
                return worker
            log.warning("an idle download worker had ended: %s", _death(worker.process.returncode))
        return await self._start()

    async def _put_back(self, worker: Worker) -> None:
        settings = self._settings
        too_big = settings.worker_max_rss_mb and worker.rss_mb() > settings.worker_max_rss_mb
        if worker.jobs >= settings.worker_max_jobs or too_big:
            log.info("recycling download worker %d after %d jobs", worker.process.pid, worker.jobs)
            await _stop([worker])
        else:
            self._idle.append(worker)

    async def _start(self) -> Worker:
        # A session of its own: a terminal's Ctrl-C reaches the service, which decides.
        process = await trio.lowlevel.open_process(
            WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        self.started += 1
        worker = Worker(process)
        # yt-dlp's one-time set-up, paid now rather than after the site's turn.
        await worker._run({"job": "setup", "settings": settings_as_data(self._settings)})
        worker.jobs = 0
        return worker


async def _stop(workers: list[Worker]) -> None:
    """Ends workers between jobs: the end of their input, then, for any still there after
    STOP_S, a kill. Shielded and bounded: this runs on the way out."""
    with cleanup_scope():
        for worker in workers:
            assert worker.process.stdin is not None
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await worker.process.stdin.aclose()
        with trio.move_on_after(STOP_S):
            for worker in workers:
                await worker.process.wait()
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
