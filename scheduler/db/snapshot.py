"""The schema the migrations build, as one readable file: migrations/schema.sql.

A reviewer reads what a migration changes in the snapshot's diff; a test fails when the
migrations and the snapshot differ (as procrastinate keeps its schema.sql). Written from
PostgreSQL's catalogs, in a fixed order, so it needs no pg_dump and reads the same from
any server version that prints definitions alike:

    nox -s schema      # python -m scheduler.db.snapshot [SERVER_URL]

migrates a scratch database on SERVER_URL ($SCHEDULER_TEST_DATABASE_URL; else an
embedded PostgreSQL in a temporary directory) and writes migrations/schema.sql.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from scheduler import embedded
from scheduler.db.migrate import migrate, migrations_dir

HEADER = (
    "-- The schema migrations/NNNN_*.sql build, written by `nox -s schema` from a migrated\n"
    "-- database (scheduler/db/snapshot.py). Read it; do not edit it: tests/test_migrations.py\n"
    "-- fails when it and the migrations differ.\n"
)

_ENUMS = """
SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'public' GROUP BY t.typname ORDER BY t.typname
"""
_COLUMNS = """
SELECT c.relname AS "table", a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity::text AS identity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY c.relname, a.attnum
"""
_CONSTRAINTS = """
SELECT c.relname AS "table", k.conname AS name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND k.contype <> 'n'
ORDER BY c.relname, k.conname
"""
_INDEXES = """
SELECT indexdef AS definition FROM pg_indexes i
WHERE schemaname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conname = i.indexname AND k.contype IN ('p', 'u', 'x'))
ORDER BY tablename, indexname
"""
_VIEWS = """
SELECT viewname AS name, definition FROM pg_views WHERE schemaname = 'public' ORDER BY viewname
"""
_FUNCTIONS = """
SELECT pg_get_functiondef(p.oid) AS definition
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public'
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""
_TRIGGERS = """
SELECT pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
ORDER BY c.relname, t.tgname
"""


_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}


async def snapshot(dsn: str) -> str:
    """The schema of the database at `dsn`, as SQL text in a fixed order."""
    connection = await asyncpg.connect(dsn)
    try:
        parts = [HEADER]
        for row in await connection.fetch(_ENUMS):
            labels = ", ".join(f"'{label}'" for label in row["labels"])
            parts.append(f"CREATE TYPE {row['name']} AS ENUM ({labels});")
        tables: dict[str, list[str]] = {}
        for row in await connection.fetch(_COLUMNS):
            column = f"    {row['name']} {row['type']}"
            if row["identity"]:
                column += (
                    " GENERATED " + ("ALWAYS" if row["identity"] == "a" else "BY DEFAULT") + " AS IDENTITY"
                )
            if row["not_null"]:
                column += " NOT NULL"
            if row["default"] is not None:
                column += f" DEFAULT {row['default']}"
            tables.setdefault(row["table"], []).append(column)
        for table, columns in tables.items():
            parts.append(f"CREATE TABLE {table} (\n" + ",\n".join(columns) + "\n);")
        for row in await connection.fetch(_CONSTRAINTS):
            parts.append(f"ALTER TABLE {row['table']} ADD CONSTRAINT {row['name']} {row['definition']};")
        parts += [f"{row['definition']};" for row in await connection.fetch(_INDEXES)]
        for row in await connection.fetch(_VIEWS):
            parts.append(f"CREATE VIEW {row['name']} AS\n{row['definition'].strip()}")
        parts += [f"{row['definition'].strip()};" for row in await connection.fetch(_FUNCTIONS)]
        parts += [f"{row['definition']};" for row in await connection.fetch(_TRIGGERS)]
    finally:
        await connection.close()
    return "\n\n".join(parts) + "\n"


async def _migrated_snapshot(server_url: str) -> str:
    name = f"scheduler_snapshot_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        try:
            await migrate(dsn)
            return await snapshot(dsn)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    server_url = (sys.argv[1:] or [os.environ.get("SCHEDULER_TEST_DATABASE_URL", "")])[0]
    with tempfile.TemporaryDirectory() as scratch:
        if server_url:
            text = asyncio.run(_migrated_snapshot(server_url))
        else:
            server = embedded.start_postgres(Path(scratch) / "postgres")
            try:
                text = asyncio.run(_migrated_snapshot(server.url))
            finally:
                server.stop()
    target = migrations_dir() / "schema.sql"
    target.write_text(text)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
