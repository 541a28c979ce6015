"""What every benchmark shares: the servers, scratch databases, a result table, the report.

A benchmark module exposes `run(env: Environment) -> Result`. It runs its baseline and
ours in the same run and fills the rows; `__main__` prints the table and writes it into
docs/performance.md between the module's markers. Scales: `tiny` (the tests), `quick`
(`nox -s bench`, minutes in all) and `full` (`-- --full`, the issue's scale).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil

from scheduler.db.migrate import migrate
from tests.support import clean_environment

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCALES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Environment:
    """Where a benchmark runs. `database_url` is the server's maintenance database: make
    scratch databases with `scratch_database`. `work` is a directory of this run's own."""

    database_url: str
    redis_url: str
    work: Path
    scale: str  # one of SCALES
    charts: Path = DOCS  # where PNG charts go; a temporary directory for the tests

    def pick(self, tiny: int | float, quick: int | float, full: int | float) -> int | float:
        return {"tiny": tiny, "quick": quick, "full": full}[self.scale]

    def database(self, name: str) -> str:
        return urlunsplit(urlsplit(self.database_url)._replace(path=f"/{name}"))

    @contextmanager
    def scratch_database(self, prefix: str) -> Iterator[str]:
        """A fresh, migrated database, dropped afterwards (even when the benchmark fails)."""
        with self.populated_copies(prefix, "", (), 1) as [dsn]:
            yield dsn

    @contextmanager
    def populated_copies(
        self, prefix: str, script: str, values: Sequence[object], copies: int
    ) -> Iterator[list[str]]:
        """`copies` databases, each a copy of one migrated database that `script` filled
        (see `run_script`), so every side of a benchmark starts from the same data; all
        dropped afterwards, even when the benchmark fails."""
        template = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        names = [template] if copies == 1 else [f"{template}_{n}" for n in range(copies)]
        try:
            asyncio.run(execute(self.database_url, f'CREATE DATABASE "{template}"'))
            asyncio.run(_migrate_and_fill(self.database(template), script, values))
            if copied := [n for n in names if n != template]:
                creates = (f'CREATE DATABASE "{n}" TEMPLATE "{template}"' for n in copied)
                asyncio.run(execute(self.database_url, *creates))
            yield [self.database(n) for n in names]
        finally:
            drop = (f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in dict.fromkeys([*names, template]))
            asyncio.run(execute(self.database_url, *drop))


def serve_environment(
    env: Environment, dsn: str, data_dir: Path, port: int, **overrides: str
) -> dict[str, str]:
    """The environment of a benchmark's `scheduler serve`: its database, the run's Redis,
    on this host, the content site's host allowed, a short grace at its stop."""
    return clean_environment(
        SCHEDULER_DATA_DIR=str(data_dir),
        SCHEDULER_DATABASE__URL=dsn,
        SCHEDULER_REDIS__URLS=json.dumps([env.redis_url]),
        SCHEDULER_GRPC__HOST="127.0.0.1",
        SCHEDULER_GRPC__PORT=str(port),
        SCHEDULER_SITES__ALLOWED=json.dumps(["127.0.0.1"]),
        SCHEDULER_SHUTDOWN__GRACE_S="1",
        **overrides,
    )


async def _migrate_and_fill(dsn: str, script: str, values: Sequence[object]) -> None:
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await run_script(conn, script, values)
    finally:
        await conn.close()


async def run_script(conn: asyncpg.Connection, script: str, values: Sequence[object]) -> None:
    """Runs the statements of `script` (separated by ";" at a line's end) in turn, with $1,
    $2, ... replaced by `values` as text: a bulk fill is DDL and multi-statement SQL, which
    takes no bind parameters."""
    for statement in script.split(";\n"):
        for n, value in reversed(list(enumerate(values, start=1))):  # $10 before $1
            statement = statement.replace(f"${n}", str(value))
        if statement.strip():
            await conn.execute(statement)


async def execute(dsn: str, *statements: str) -> None:
    """Each statement in turn, on a connection of its own (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """One query on a connection of its own: for polling a database other processes write."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@dataclass(frozen=True)
class Row:
    """One measure. `ratio` is how many times better ours is (> 1 is better), when the
    measure has a baseline; `target` says what the issue asks and `met` whether it holds."""

    measure: str
    baseline: str
    ours: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


@dataclass
class Result:
    key: str  # the report's markers: <!-- bench:KEY:start --> ... <!-- bench:KEY:end -->
    title: str
    setup: str  # what was run, at what scale, one or two sentences
    rows: list[Row] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)
    notes: str = ""  # markdown shown after the table and the charts (a curve's figures, ...)

    def table(self) -> str:
        lines = [
            "| measure | baseline | ours | ours vs baseline | target | met |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            lines.append(f"| {row.measure} | {row.baseline} | {row.ours} | {ratio} | {row.target} | {met} |")
        return "\n".join(lines)

    def section(self, command: str, machine: str, date: str) -> str:
        charts = "".join(f"\n\n![{self.title}]({chart.name})" for chart in self.charts)
        notes = f"\n\n{self.notes}" if self.notes else ""
        return f"Run: `{command}` on {machine}, {date}. {self.setup}\n\n{self.table()}{charts}{notes}"


# The claim benchmarks' downloaders: what a poller claimed is delivered before its next claim
# but one, so that at most two batches per poller are in flight, as in the service (where the
# downloaders bound them). Claims that are never finished would pile up leases no service
# holds; and a claim steps over its categories' places in flight (migrations/0014).
DELIVER = """
UPDATE videos SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = ANY($1::bigint[])
"""


class Downloaders:
    """A poller's downloaders: each batch it claims is delivered once it has claimed the next."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._held: list[int] = []

    async def __aenter__(self) -> Downloaders:
        self._conn = await asyncpg.connect(self._dsn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._conn.close()

    async def took(self, videos: list[int]) -> None:
        if self._held:
            await self._conn.execute(DELIVER, self._held)
        self._held = videos


def ratio(baseline: float, ours: float) -> float:
    """Ours vs baseline for a measure where more is better (throughput)."""
    return ours / baseline if baseline else float("inf")


def inverse_ratio(baseline: float, ours: float) -> float:
    """Ours vs baseline for a measure where less is better (latency, memory)."""
    return baseline / ours if ours else float("inf")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q < 100), inclusive method; 0 for no values."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


def machine() -> str:
    return f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def section_of(text: str, key: str) -> str:
    """What stands between KEY's markers in `text` ("" when they are not there)."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    if start not in text or end not in text:
        return ""
    return text.split(start, 1)[1].split(end, 1)[0]


def write_section(text: str, key: str, section: str) -> str:
    """`text` with the block between KEY's markers replaced, or the block appended."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{start}\n{section}\n{end}"
    pattern = f"{re.escape(start)}.*?{re.escape(end)}"
    return re.sub(pattern, lambda _: block, text, flags=re.S) if start in text else f"{text}\n{block}\n"
