"""The migration runner: from empty, again (nothing to do), and several at once."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
import trio
import trio_asyncio

from scheduler.db.migrate import SNAPSHOT, MigrationError, load_migrations, migrate, migrations_dir
from scheduler.db.snapshot import snapshot


async def run_migrate(url: str, directory: Path | None = None) -> list[str]:
    applied = await trio_asyncio.aio_as_trio(migrate)(url, directory)
    return [m.name for m in applied]


async def tables(url: str) -> set[str]:
    async def fetch() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await conn.close()
        return {r["tablename"] for r in rows}

    return await trio_asyncio.aio_as_trio(fetch)()


async def test_from_empty_every_table_is_created(empty_database_url: str) -> None:
    applied = await run_migrate(empty_database_url)

    assert applied == [m.name for m in load_migrations()]
    assert await tables(empty_database_url) >= {
        "schema_migrations",
        "categories",
        "subscriptions",
        "videos",
        "category_videos",
        "previous_downloads",
        "archival_events",
        "inference_categories",
    }


async def test_a_second_run_applies_nothing(empty_database_url: str) -> None:
    await run_migrate(empty_database_url)

    assert await run_migrate(empty_database_url) == []


async def test_runners_started_together_apply_each_migration_once(empty_database_url: str) -> None:
    results: list[list[str]] = []

    async def runner() -> None:
        results.append(await run_migrate(empty_database_url))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(runner)

    everything = [m.name for m in load_migrations()]
    assert sorted(results, key=len) == [[], [], [], everything]


async def test_a_migration_edited_after_it_was_applied_is_refused(
    empty_database_url: str, tmp_path: Path
) -> None:
    for source in migrations_dir().glob("*.sql"):
        (tmp_path / source.name).write_text(source.read_text())
    await run_migrate(empty_database_url, tmp_path)
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await run_migrate(empty_database_url, tmp_path)


async def test_a_new_migration_is_applied_in_its_own_turn(empty_database_url: str, tmp_path: Path) -> None:
    for source in migrations_dir().glob("*.sql"):
        (tmp_path / source.name).write_text(source.read_text())
    await run_migrate(empty_database_url, tmp_path)
    (tmp_path / "9999_later.sql").write_text("CREATE TABLE later (id int);")

    assert await run_migrate(empty_database_url, tmp_path) == ["later"]
    assert "later" in await tables(empty_database_url)


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")

    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


async def test_the_schema_snapshot_is_what_the_migrations_build(database_url: str) -> None:
    """migrations/schema.sql shows a reviewer the schema; after a new migration, `nox -s
    schema` writes it again."""
    built = await trio_asyncio.aio_as_trio(snapshot)(database_url)

    assert built == (migrations_dir() / SNAPSHOT).read_text(), (
        "migrations/schema.sql is not what the migrations build: run `nox -s schema` and commit it"
    )
