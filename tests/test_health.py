"""grpc.health.v1: what a container's HEALTHCHECK (`scheduler health`) and a load balancer see."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import trio
import trio_asyncio
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from scheduler.serve.service import Running, run
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.conftest import Api, Database
from tests.content_site import ContentSite
from tests.test_pipeline import pipeline_settings, wait_for


async def status(port: int, service: str = "") -> int:
    channel = Channel("127.0.0.1", port)
    try:
        check = trio_asyncio.aio_as_trio(HealthStub(channel).Check)
        response = await check(HealthCheckRequest(service=service), timeout=10)
        return int(response.status)
    finally:
        channel.close()


async def test_the_service_is_serving_overall_and_by_name(api: Api) -> None:
    assert await status(api.port) == HealthCheckResponse.SERVING
    assert await status(api.port, "scheduler.v1.Scheduler") == HealthCheckResponse.SERVING


async def test_without_its_database_the_service_is_not_serving(
    api: Api, database_url: str, postgres_url: str
) -> None:
    name = urlsplit(database_url).path.lstrip("/")  # an embedded server's URL has a query
    admin = await trio_asyncio.aio_as_trio(asyncpg.connect)(postgres_url)
    try:
        await trio_asyncio.aio_as_trio(admin.execute)(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await trio_asyncio.aio_as_trio(admin.close)()

    # The first check runs now; its answer is then kept for HEALTH_CHECK_TTL_S.
    assert await status(api.port) == HealthCheckResponse.NOT_SERVING


async def test_a_draining_service_is_not_serving(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("slow", size=10_000_000)
    site.set_mode("slow", "trickle")  # still downloading when the drain starts
    feed = site.feed("feed", ["slow"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, shutdown={"grace_s": 30.0})

    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(run, settings)
        channel = Channel("127.0.0.1", running.port)
        try:
            scheduled = pb.ScheduleCategoryRequest(url=feed, user_id=1)
            await Api(SchedulerStub(channel), running.port)("ScheduleCategory", scheduled)
        finally:
            channel.close()
        await wait_for(db, "SELECT status::text FROM videos", "downloading")
        before = await status(running.port)

        running.stop()
        during = await status(running.port)
        nursery.cancel_scope.cancel()  # a second signal: the test need not wait out the grace

    assert (before, during) == (HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING)
