"""Real servers for every test.

PostgreSQL and Redis: SCHEDULER_TEST_DATABASE_URL / SCHEDULER_TEST_REDIS_URL when set
(.ci/run sets them to the machine's servers), otherwise embedded ones started once per
session. Each test gets its own database, cloned from a template that has the
migrations applied (procrastinate's way: a clone takes milliseconds, a migration run
does not).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import trio
import trio_asyncio
from grpclib import GRPCError
from grpclib.client import Channel

from scheduler import embedded
from scheduler.db.migrate import migrate
from scheduler.serve.service import run
from scheduler.settings import Settings, defaults, from_overrides
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.content_site import site  # noqa: F401 (the content site fixture, for every test module)
from tests.support import NO_SITE_LIMITS, database_url_for

ALLOWED_SITES = [*defaults()["sites"]["allowed"], "127.0.0.1"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test runs under Trio inside a trio-asyncio loop, as `serve` does
    (pytest-trio's own trio_run setting knows only trio and qtrio). The benchmarks' own
    tests (tests/test_bench*.py) are marked `bench`."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.trio(run=trio_asyncio.run))
        if item.path.name.startswith("test_bench"):
            item.add_marker(pytest.mark.bench)


def _given_or_embedded(variable: str, start: Callable[[Path], Any], directory: Path) -> Iterator[str]:
    """The server the environment names, or an embedded one for this session."""
    if url := os.environ.get(variable):
        yield url
        return
    server = start(directory)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of the server's maintenance database, from which test databases are made."""
    yield from _given_or_embedded(
        "SCHEDULER_TEST_DATABASE_URL", embedded.start_postgres, tmp_path_factory.mktemp("postgres")
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _given_or_embedded(
        "SCHEDULER_TEST_REDIS_URL", embedded.start_redis, tmp_path_factory.mktemp("redis")
    )


def _admin(postgres_url: str, *statements: str) -> None:
    async def execute() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(execute())


@contextmanager
def scratch_database(postgres_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A database of its own (a copy of `template`, else empty), dropped afterwards: its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    _admin(postgres_url, f'CREATE DATABASE "{name}"{copied}')
    try:
        yield name
    finally:
        _admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_database(postgres_url: str) -> Iterator[str]:
    with scratch_database(postgres_url, "scheduler_template") as name:
        asyncio.run(migrate(database_url_for(postgres_url, name)))
        yield name


@pytest.fixture
def database_url(postgres_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    with scratch_database(postgres_url, "scheduler_test", template_database) as name:
        yield database_url_for(postgres_url, name)


@pytest.fixture
def empty_database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database without the schema, for the migration runner's tests."""
    with scratch_database(postgres_url, "scheduler_empty") as name:
        yield database_url_for(postgres_url, name)


def service_settings(
    database_url: str, redis_url: str, data_dir: Path, **sections: dict[str, Any]
) -> Settings:
    """Settings for a service under test: the test's database, port 0, 127.0.0.1 allowed."""
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "database": {"url": database_url, "pool_max_size": 4},
        "redis": {"urls": [redis_url]},
        "grpc": {"host": "127.0.0.1", "port": 0},
        "sites": {"allowed": ALLOWED_SITES, "limits": NO_SITE_LIMITS},
        "metrics": {"port": 0},  # a test that scrapes sets a free port
    }
    for name, values in sections.items():
        overrides[name] = overrides.get(name, {}) | values
    return from_overrides(overrides)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """An API-only service: no syncers, pollers or downloaders touch the test's rows."""
    return service_settings(
        database_url,
        redis_url,
        tmp_path / "data",
        sync={"workers": 0},
        schedule={"pollers": 0},
        downloader={"workers": 0},
    )


@dataclass
class Api:
    """A grpclib client of the service under test, over a real socket."""

    stub: SchedulerStub
    port: int

    async def __call__(self, method: str, request: Any) -> Any:
        return await trio_asyncio.aio_as_trio(getattr(self.stub, method))(request, timeout=10)

    async def error(self, method: str, request: Any) -> GRPCError:
        with pytest.raises(GRPCError) as caught:
            await self(method, request)
        return caught.value


@pytest.fixture
async def api(settings: Settings, nursery: trio.Nursery) -> AsyncIterator[Api]:
    """The whole service (`run`), started in the test's nursery, and a client of it."""
    running = await nursery.start(run, settings)
    channel = Channel("127.0.0.1", running.port)
    try:
        yield Api(SchedulerStub(channel), running.port)
    finally:
        channel.close()


@pytest.fixture
def db(database_url: str) -> Database:
    return Database(database_url)


@dataclass
class Database:
    """Direct SQL on the test's database, to arrange rows and check what was written."""

    url: str

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def fetch() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return await trio_asyncio.aio_as_trio(fetch)()

    async def value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def counts(self) -> dict[str, int]:
        """Rows per table the API writes: a rejected request must leave these unchanged."""
        tables = (
            "categories",
            "subscriptions",
            "videos",
            "category_videos",
            "archival_events",
            "inference_categories",
        )
        return {t: await self.value(f"SELECT count(*) FROM {t}") for t in tables}

    async def add_video(
        self,
        category_id: int,
        foreign_id: str,
        *,
        status: str = "pending",
        approval: str = "unreviewed",
        position: int = 0,
        bytes_done: int = 0,
        bytes_total: int = 0,
    ) -> int:
        """A video listed in a category, as the syncer stores it; in flight ones hold a lease."""
        video_id = await self.value(
            """
            INSERT INTO videos (website, foreign_id, url, title, status, approval, bytes_done,
                                bytes_total, lease_owner, lease_expires_at)
            SELECT '127.0.0.1', $1, 'http://127.0.0.1/' || $1 || '.mp4', 'title of ' || $1,
                   $2::video_status, $3::approval_state, $4, $5,
                   CASE WHEN in_flight THEN 'test-instance' END,
                   CASE WHEN in_flight THEN now() + interval '1 minute' END
            FROM (SELECT $2 IN ('queued', 'downloading', 'uploading') AS in_flight) AS flags
            RETURNING id
            """,
            foreign_id,
            status,
            approval,
            bytes_done,
            bytes_total,
        )
        await self.value(
            "INSERT INTO category_videos (category_id, video_id, position) VALUES ($1, $2, $3)",
            category_id,
            video_id,
            position,
        )
        return int(video_id)


@pytest.fixture
def bench_env(postgres_url: str, redis_url: str, tmp_path: Path) -> Any:
    """A benchmark's environment at the tiny scale: this session's servers, charts in tmp_path."""
    from benchmarks.harness import Environment

    (tmp_path / "charts").mkdir()
    return Environment(postgres_url, redis_url, tmp_path, "tiny", tmp_path / "charts")
