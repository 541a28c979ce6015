"""yt-dlp in worker processes (issue 20): a cancel stops a download even while yt-dlp is
blocked in a read, a worker that dies costs its video one attempt with a clear reason,
and workers are recycled after their jobs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import psutil
import pytest
import trio

from scheduler.pipeline import ytdlp
from scheduler.pipeline.ytdlp.pool import Progress, WorkerPool
from scheduler.pipeline.ytdlp.protocol import (
    cookie_as_data,
    cookie_from_data,
    settings_as_data,
    settings_from_data,
)
from scheduler.settings import from_overrides
from scheduler.sites.cookies import CookieJars
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite
from tests.support import worker_processes
from tests.test_pipeline import pipeline_settings, serving, video_id_of, wait_for

ALLOWED = ("127.0.0.1",)


async def _downloading_worker(site: ContentSite) -> psutil.Process:
    """The worker process with a connection open to the site: the one downloading (others
    may wait idle in the pool, from the listing or the start's checks)."""
    with trio.fail_after(10):
        # The process table, polled on purpose: the workers are other processes.
        while True:
            for worker in worker_processes():
                with suppress(psutil.Error):
                    connections = worker.net_connections("tcp")
                    if any(c.raddr and c.raddr.port == site.port for c in connections):
                        return worker
            await trio.sleep(0.05)


async def test_a_cancel_stops_a_download_blocked_in_a_read(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    """The site sends its headers, then nothing: yt-dlp waits in a socket read for up to
    its socket timeout (30 s here). The cancel kills its worker instead."""
    site.add_video("stalled", size=1_000_000)
    site.set_mode("stalled", "stall")
    feed = site.feed("feed", ["stalled"])
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, downloader={"retry_base_s": 3600.0, "socket_timeout_s": 30.0}
    )

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "downloading")
        worker = await _downloading_worker(site)
        video_id = await video_id_of(db, "stalled")
        await api("CancelDownload", pb.CancelDownloadRequest(video_id=video_id))
        with trio.fail_after(10):  # well inside the socket timeout a thread would wait out
            await wait_for(db, "SELECT status::text FROM videos", "pending")
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE

    assert await db.value("SELECT attempts FROM videos") == 0  # a cancel is not a failed attempt


async def test_a_worker_killed_mid_download_costs_one_attempt_and_is_replaced(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("victim", size=200_000)
    site.set_mode("victim", "trickle")
    feed = site.feed("feed", ["victim"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"retry_base_s": 0.1})

    async with serving(settings) as (running, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "downloading")
        worker = await _downloading_worker(site)
        site.set_mode("victim", "ok")  # the next attempt goes through
        os.kill(worker.pid, signal.SIGKILL)
        await wait_for(db, "SELECT status::text FROM videos", "done")
        assert not running.stopped.is_set()  # the service lived on

    died = "SELECT message FROM archival_events WHERE message LIKE 'attempt 1 failed%'"
    assert "the download worker died: signal 9 (SIGKILL)" in await db.value(died)
    assert await db.value("SELECT attempts FROM videos") == 1


async def test_workers_are_recycled_after_their_jobs(tmp_path: Path, site: ContentSite) -> None:
    for name in ("a", "b", "c"):
        site.add_video(name, size=20_000)

    async def deliver_all(max_jobs: int) -> int:
        settings = from_overrides({"downloader": {"worker_max_jobs": max_jobs}}).downloader
        async with WorkerPool.open(settings) as pool:
            for name in ("a", "b", "c"):
                workdir = tmp_path / f"{max_jobs}-{name}"
                workdir.mkdir()
                async with pool.worker() as worker:
                    downloaded = await worker.download(
                        site.video(name).url, workdir, settings, Progress(), ALLOWED
                    )
                assert downloaded.video_path.read_bytes() == site.video_bytes(name)
            return pool.started

    assert await deliver_all(max_jobs=200) == 1  # one worker, its set-up paid once
    assert await deliver_all(max_jobs=1) == 3  # a fresh worker per job


async def test_a_refused_url_and_progress_cross_the_boundary_as_plain_data(
    tmp_path: Path, site: ContentSite
) -> None:
    settings = from_overrides({}).downloader
    site.add_video("big", size=3_000_000)
    progress = Progress()
    async with WorkerPool.open(settings) as pool, pool.worker() as worker:
        await worker.download(site.video("big").url, tmp_path, settings, progress, ALLOWED)
        assert (progress.bytes_done, progress.bytes_total) == (3_000_000, 3_000_000)
        with pytest.raises(Exception, match="refused") as refused:
            await worker.download("http://169.254.169.254/latest", tmp_path, settings, Progress(), ALLOWED)
    assert type(refused.value).__name__ == "RefusedUrl"


def test_settings_and_cookies_round_trip_as_data(tmp_path: Path) -> None:
    settings = from_overrides({"downloader": {"format_sort": ["res:720"]}}).downloader
    assert settings_from_data(settings_as_data(settings)) == settings
    jar = tmp_path / "cookies.txt"
    jar.write_text("# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t2000000000\tsid\tabc\n")
    [cookie] = CookieJars({"*.example.com": jar}).for_website("www.example.com")
    back = cookie_from_data(cookie_as_data(cookie))
    assert vars(back) == vars(cookie)


async def test_a_workers_log_lines_reach_the_services_log(
    tmp_path: Path, site: ContentSite, caplog: pytest.LogCaptureFixture
) -> None:
    settings = from_overrides({}).downloader
    site.add_video("logged", size=10_000)
    with caplog.at_level(logging.DEBUG, logger="scheduler"):
        async with WorkerPool.open(settings) as pool, pool.worker() as worker:
            await worker.download(site.video("logged").url, tmp_path, settings, Progress(), ALLOWED)
    forwarded = [r for r in caplog.records if r.name.startswith("scheduler.pipeline.ytdlp.")]
    assert any(r.getMessage().startswith("yt-dlp: ") for r in forwarded)


async def test_a_listing_in_a_worker_hands_its_pages_over_as_it_reads(
    tmp_path: Path, site: ContentSite
) -> None:
    settings = from_overrides({}).downloader
    names = [f"v{n}" for n in range(5)]
    for name in names:
        site.add_video(name)
    feed = site.feed("feed", names)
    pages: list[list[str]] = []

    async def on_page(page: ytdlp.Listing) -> None:
        pages.append([v.foreign_id for v in page.videos])

    async with WorkerPool.open(settings) as pool, pool.worker() as worker:
        rest = await worker.list_category(
            feed, "127.0.0.1", settings, ALLOWED, on_page=on_page, page_entries=2
        )
        tags = await worker.video_tags(site.video("v0").url, settings, ALLOWED)

    # Read newest first, as the feed lists them: the first page is the 2 newest, then a
    # page of 4 would follow; what is left after the last full page is the answer. Each
    # comes oldest first.
    assert pages == [["v3", "v4"]]
    assert [v.foreign_id for v in rest.videos] == ["v0", "v1", "v2"]
    assert tags == ()  # a media file has no page with tags


# The worker's side of the ytdlp package: the only modules that import yt-dlp.
WORKER_SIDE = {
    f"scheduler.pipeline.ytdlp.{name}" for name in ("download", "listing", "options", "overrides", "worker")
}


def test_the_services_process_never_imports_yt_dlp() -> None:
    """Every module of the service but the worker's side, imported in a fresh interpreter,
    loads no part of yt-dlp: its memory and its import time stay in the workers."""
    code = f"""
import importlib, pkgutil, sys
import scheduler
for module in pkgutil.walk_packages(scheduler.__path__, "scheduler."):
    if module.name not in {sorted(WORKER_SIDE)!r} and not module.name.endswith("__main__"):
        importlib.import_module(module.name)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("yt_dlp", "yt_dlp_ejs")))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


async def test_a_worker_tells_the_programs_and_whether_a_url_names_a_media_file(tmp_path: Path) -> None:
    settings = from_overrides({"downloader": {"js_runtime": "", "ffmpeg": "auto"}}).downloader
    async with WorkerPool.open(settings) as pool, pool.worker() as worker:
        programs = await worker.programs(settings)
        assert await worker.names_a_media_file("http://127.0.0.1/videos/a.mp4")
        assert not await worker.names_a_media_file("http://127.0.0.1/pages/a.html")
    assert (programs.js_runtime, programs.js_runtime_problem) == (None, "none configured")
    assert programs.ffmpeg is not None and programs.ffmpeg.startswith("ffmpeg ")
