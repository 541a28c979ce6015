"""The one place the driver is met: asyncpg's pool, its connections, and its errors.

Every query module takes its connections from `Database.connection()` or
`Database.transaction()`, and so gets asyncpg's and the socket's ways of saying "the
database cannot be reached" as one domain error, `DatabaseUnavailable`, as httpcore
maps its transports' errors at its edge. The API answers it UNAVAILABLE; the pipeline
backs off on it. Everything else (a bug, a constraint) is not mapped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Any

import asyncpg

from scheduler.errors import DatabaseUnavailable


def _load_statements() -> dict[str, str]:
    text = resources.files("scheduler.db").joinpath("queries.sql").read_text("utf-8")
    statements: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = chunk.partition("\n")
        statements[name.strip()] = body.strip()
    return statements


# A connection from the pool, inside the data layer only (asyncpg ships no type hints).
Connection = Any

# Every statement of queries.sql, by its `-- name:`.
SQL = _load_statements()

# The database cannot be reached, is going away, or is too busy to answer: worth a retry.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or is gone
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shut down, restarting, a statement timeout
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.InterfaceError,  # the connection (or the pool) closed under us
    # The protocol's state lost: what a connection terminated in the middle of an
    # operation can leave (seen when the database was dropped under a LISTEN).
    asyncpg.exceptions.InternalClientError,
    # While we run, a database dropped or a password changed is the database away for us
    # too; at start the probe tells these apart as settings to mend (db/probe.py).
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # class 28
)


@contextmanager
def map_errors() -> Iterator[None]:
    """The driver's errors for "no database now" raised inside become DatabaseUnavailable."""
    try:
        yield
    except _UNAVAILABLE as error:
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}".rstrip(": ")) from error


class Database:
    """An asyncpg pool (asyncio). A connection is held for one block only, so that Trio
    code can run a whole query method across trio-asyncio's bridge and a cancellation never
    strands a connection half-used."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, statement_timeout_s: float = 30.0
    ) -> Database:
        with map_errors():
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                server_settings={
                    "application_name": "scheduler",
                    "statement_timeout": str(int(statement_timeout_s * 1000)),
                },
                # No statement leaves session state behind (no LISTEN, SET or advisory lock on
                # a pool connection), so the default reset query would be a wasted round trip
                # per checkout; an open transaction is still rolled back by asyncpg itself.
                reset=_keep_session,
            )
        return cls(pool)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        with map_errors():
            async with self._pool.acquire() as conn:
                yield conn

    @asynccontextmanager
    async def transaction(self, **options: Any) -> AsyncIterator[Any]:
        """A connection in a transaction (asyncpg's options: isolation, readonly)."""
        with map_errors():
            async with self._pool.acquire() as conn, conn.transaction(**options):
                yield conn

    async def ping(self) -> bool:
        """True when the database answers (the health checks')."""
        async with self.connection() as conn:
            return bool(await conn.fetchval(SQL["ping"]))

    async def close(self) -> None:
        await self._pool.close()

    def terminate(self) -> None:
        self._pool.terminate()


class Listener:
    """A dedicated LISTEN connection (not a pool's: LISTEN is session state)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def is_closed(self) -> bool:
        return bool(self._connection.is_closed())

    async def close(self) -> None:
        await self._connection.close()


async def listen(
    dsn: str, handlers: Mapping[str, Callable[[str], None]], on_lost: Callable[[], None]
) -> Listener:
    """Connects and listens on each channel of `handlers` (channel -> a function of the
    payload); `on_lost` is called if the connection ends, since what is sent meanwhile is
    lost. Raises DatabaseUnavailable when it cannot connect, whatever the reason: for a
    running service a database that now refuses it (dropped, a changed password) is away
    too, and a LISTEN connection is only a hint (the claimers poll as well)."""
    connection = None
    try:
        connection = await asyncpg.connect(dsn)
        for channel, handle in handlers.items():
            await connection.add_listener(channel, lambda *args, handle=handle: handle(args[3]))
    except Exception as error:  # whatever the reason, as above: this edge maps them all
        if connection is not None:
            connection.terminate()  # connected, but could not listen: not left open
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
    connection.add_termination_listener(lambda _connection: on_lost())
    return Listener(connection)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see Database.open)."""
