"""Applies migrations/NNNN_name.sql once each, in order, each in its own transaction.

Several instances may start at once: a session advisory lock lets one apply the
pending files while the others wait, then find nothing left to do. An applied file
whose text changed afterwards stops the runner: history is not rewritten in place.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

# Any constant shared by every instance; "schedmig" in ASCII.
ADVISORY_LOCK_KEY = 0x7363686564_6D6967
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Beside them, not one of them: the schema they build (scheduler/db/snapshot.py).
SNAPSHOT = "schema.sql"


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The wheel ships migrations/ inside the package; a source checkout has it beside it."""
    packaged = Path(str(resources.files("scheduler"))) / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name == SNAPSHOT:
            continue
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match[1])
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        migrations[version] = Migration(version, match[2], path.read_text("utf-8"))
    return [migrations[v] for v in sorted(migrations)]


async def migrate(dsn: str, directory: Path | None = None) -> list[Migration]:
    """Applies the pending migrations; returns those it applied."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            return await _apply_pending(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    applied = {
        row["version"]: row["checksum"]
        for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
    }
    known = {m.version for m in migrations}
    if unknown := sorted(set(applied) - known):
        # A replica of the previous release restarting during a rolling upgrade:
        # migrations only add, so it may run on; say so.
        log.warning("the database has migrations this release does not know: %s", unknown)
    done = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name}.sql changed after "
                    "it was applied; add a new migration instead"
                )
            continue
        try:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        except asyncpg.PostgresError as error:
            problem = " ".join(str(error).split())
            name = f"{migration.version:04d}_{migration.name}.sql"
            raise MigrationError(f"migration {name} failed and was rolled back: {problem}") from error
        log.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done
