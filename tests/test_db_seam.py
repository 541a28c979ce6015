"""The data layer's seam: Trio code sees every pipeline statement as a Trio method, and
the driver's "no database now" errors as one domain error, DatabaseUnavailable."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import trio
import trio_asyncio

from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.store import Store
from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable
from scheduler.work import ClaimedVideo
from tests.conftest import Database


def _statements(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_every_pipeline_statement_is_offered_to_trio_code() -> None:
    offered = {
        name for name in vars(TrioStore) if not name.startswith("_") and name not in ("queries", "owner")
    }
    assert offered == _statements(PipelineQueries)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await trio_asyncio.aio_as_trio(Store.open)(database_url, min_size=1, max_size=1)
    try:
        yield opened
    finally:
        await trio_asyncio.aio_as_trio(opened.close)()


async def test_a_trio_call_runs_the_statement_and_returns_its_records(store: Store, db: Database) -> None:
    await db.fetch(
        """
        INSERT INTO categories (url, website, kind, subscriber_count)
        VALUES ('http://127.0.0.1/feed', '127.0.0.1', 'url', 1)
        """
    )
    trio_store = store.for_trio("seam-test")
    category = await trio_store.claim_category(60.0, [])
    assert category is not None and category.url == "http://127.0.0.1/feed"
    assert await db.value("SELECT lease_owner FROM categories") == "seam-test"
    assert await trio_store.claim_videos(4, 60.0, False, []) == list[ClaimedVideo]()


async def test_a_statement_past_its_timeout_is_database_unavailable(database_url: str) -> None:
    """The database is there but cannot answer in time (here: a table another session
    holds locked): the Trio caller sees DatabaseUnavailable, with asyncpg's error as its cause."""

    async def lock_instances_then(call: Callable[[], Awaitable[None]]) -> None:
        holder = await asyncpg.connect(database_url)
        try:
            async with holder.transaction():
                await holder.execute("LOCK TABLE instances")
                await call()
        finally:
            await holder.close()

    store = await trio_asyncio.aio_as_trio(Store.open)(database_url, statement_timeout_s=0.2)
    try:
        trio_store = store.for_trio("seam-test")
        with trio.fail_after(10), pytest.raises(DatabaseUnavailable) as raised:
            await trio_asyncio.aio_as_trio(lock_instances_then)(
                trio_asyncio.trio_as_aio(lambda: trio_store.stop_instance("seam-test"))
            )
        assert isinstance(raised.value.__cause__, asyncpg.exceptions.QueryCanceledError)
    finally:
        await trio_asyncio.aio_as_trio(store.close)()


async def test_no_server_is_database_unavailable_at_open() -> None:
    with pytest.raises(DatabaseUnavailable) as raised:
        await trio_asyncio.aio_as_trio(Store.open)("postgresql://postgres@127.0.0.1:1/none")
    assert isinstance(raised.value.__cause__, OSError)


async def test_a_listen_connection_that_cannot_be_had_is_database_unavailable(postgres_url: str) -> None:
    """Whatever the reason (here: the database is gone), so that the wake-ups retry."""
    from scheduler.db import connector
    from tests.support import database_url_for

    gone = database_url_for(postgres_url, "scheduler_no_such_database")
    with pytest.raises(DatabaseUnavailable, match="InvalidCatalogNameError"):
        await trio_asyncio.aio_as_trio(connector.listen)(gone, {"channel": print}, lambda: None)
