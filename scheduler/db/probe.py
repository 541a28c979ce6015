"""Whether PostgreSQL answers, and if not, why, in an operator's words: asyncpg's and the
socket's errors mapped, at this edge, to ServerUnavailable (try again) or ServerRefused
(only a setting mends it)."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from scheduler.errors import DatabaseUnavailable, ServerRefused, ServerUnavailable, network_problem

# Answers that come and go while a server starts or is busy.
_NOT_YET = (asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, asyncpg.InterfaceError)


def where(dsn: str) -> str:
    """'PostgreSQL at host:port/database': the URL without its user and password (a Unix
    socket's directory for its host, as libpq's ?host=/run/postgresql)."""
    url = urlsplit(dsn)
    try:
        host = url.hostname or parse_qs(url.query).get("host", ["localhost"])[0]
        port = url.port or 5432
    except ValueError:
        return "PostgreSQL"
    database = unquote(url.path.lstrip("/")) or unquote(url.username or "") or "postgres"
    return f"PostgreSQL at {host}:{port}/{database}"


def classify(error: Exception, timeout_s: float | None = None) -> ServerUnavailable | ServerRefused:
    """A connection's failure as an operator acts on it."""
    if isinstance(error, DatabaseUnavailable) and isinstance(error.__cause__, Exception):
        error = error.__cause__  # the driver's own error, mapped by the connector
    if isinstance(error, ssl.SSLError):
        return ServerRefused(f"TLS: {getattr(error, 'reason', None) or error}")
    if problem := network_problem(error, timeout_s):
        return ServerUnavailable(problem)
    if isinstance(error, _NOT_YET):
        return ServerUnavailable(_one_line(error))
    if isinstance(error, asyncpg.PostgresError):  # a wrong password, no such database or role
        return ServerRefused(_one_line(error))
    return ServerUnavailable(f"{type(error).__name__}: {_one_line(error)}")


async def probe(dsn: str, timeout_s: float) -> None:
    """Connects once and hangs up; raises ServerUnavailable or ServerRefused."""
    try:
        connection = await asyncpg.connect(dsn, timeout=timeout_s)
    except Exception as error:
        raise classify(error, timeout_s) from error
    await connection.close(timeout=timeout_s)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
