"""The Prometheus endpoint, scraped while the real pipeline delivers a video."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from grpclib.client import Channel

from scheduler.serve.service import Running, run
from scheduler.settings import SettingsError, from_overrides
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.conftest import Api, Database
from tests.content_site import ContentSite
from tests.support import free_port, scrape
from tests.test_pipeline import pipeline_settings, wait_for


async def test_the_counters_follow_a_delivery(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("a", size=70_000)
    feed = site.feed("feed", ["a"])
    port = free_port()
    settings = pipeline_settings(database_url, redis_url, tmp_path, metrics={"port": port})

    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, settings)
        before = await scrape(port)
        channel = Channel("127.0.0.1", running.port)
        try:
            api = Api(SchedulerStub(channel), running.port)
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await api.error("ScheduleCategory", pb.ScheduleCategoryRequest(url="file:///etc", user_id=1))
        finally:
            channel.close()
        await wait_for(db, "SELECT status::text FROM videos", "done")
        after = await scrape(port)
        nursery.cancel_scope.cancel()

    website = "127.0.0.1"
    assert (("scheduler_downloads_total", (("outcome", "delivered"), ("website", website)))) not in before
    assert after[("scheduler_downloads_total", (("outcome", "delivered"), ("website", website)))] == 1
    assert after[("scheduler_downloaded_bytes_total", (("website", website),))] == 70_000
    assert after[("scheduler_uploaded_bytes_total", (("website", website),))] == 70_000
    assert after[("scheduler_download_seconds_count", (("website", website),))] == 1
    assert after[("scheduler_sync_seconds_count", (("result", "ok"), ("website", website)))] == 1
    assert after[("scheduler_claim_seconds_count", ())] >= 1
    # The queue, read from the database at the first scrape (then at most every 10 s).
    assert {before[("scheduler_videos", (("status", s),))] for s in ("pending", "done", "failed")} == {0}
    assert after[("process_resident_memory_bytes", ())] > 0
    for code in ("OK", "INVALID_ARGUMENT"):
        assert after[("scheduler_api_requests_total", (("code", code), ("method", "ScheduleCategory")))] == 1
    assert after[("scheduler_api_request_seconds_count", (("method", "ScheduleCategory"),))] == 2


def test_a_bad_metrics_port_is_refused_and_zero_turns_the_endpoint_off() -> None:
    with pytest.raises(SettingsError, match="SCHEDULER_METRICS__PORT"):
        from_overrides({"metrics": {"port": 70000}})
    assert from_overrides({"metrics": {"port": 0}}).metrics.port == 0


async def test_a_refused_call_is_counted_with_its_status(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        grpc={"tokens": ["a-token-of-32-characters-at-least"]},
        metrics={"port": port},
    )

    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, settings)
        channel = Channel("127.0.0.1", running.port)
        try:
            await Api(SchedulerStub(channel), running.port).error("ListDownloads", pb.ListDownloadsRequest())
        finally:
            channel.close()
        after = await scrape(port)
        nursery.cancel_scope.cancel()

    assert (
        after[("scheduler_api_requests_total", (("code", "UNAUTHENTICATED"), ("method", "ListDownloads")))]
        == 1
    )
