"""`nox -s bench [-- --full] [--only NAME ...]`: every benchmark with its baseline, into docs/performance.md.

The servers are found as the tests find them: SCHEDULER_TEST_DATABASE_URL and
SCHEDULER_TEST_REDIS_URL, else embedded ones started for the run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import DOCS, Environment, Result, machine, section_of, write_section
from scheduler import embedded

REPORT = DOCS / "performance.md"
# In the order; each is benchmarks/<name>.py with run(env) -> Result.
BENCHMARKS = [
    "claims",
    "dispatch",
    "delivery",
    "memory",
    "api_load",
    "sync",
    "listing",
    "scaleout",
    "queues",
    "cancel",
    "imports",
]


def _given_or_embedded(variable: str, start: Callable[[Path], Any], work: Path) -> Iterator[str]:
    if url := os.environ.get(variable):
        yield url
        return
    server = start(Path(tempfile.mkdtemp(prefix="server-", dir=work)))
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def servers(work: Path) -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        postgres = stack.enter_context(
            contextmanager(_given_or_embedded)("SCHEDULER_TEST_DATABASE_URL", embedded.start_postgres, work)
        )
        redis = stack.enter_context(
            contextmanager(_given_or_embedded)("SCHEDULER_TEST_REDIS_URL", embedded.start_redis, work)
        )
        yield postgres, redis


def run_benchmarks(env: Environment, names: list[str]) -> list[Result]:
    results = []
    for name in names:
        print(f"== {name} ({env.scale})", flush=True)
        started = time.perf_counter()
        result: Result = importlib.import_module(f"benchmarks.{name}").run(env)
        notes = f"\n\n{result.notes}" if result.notes else ""
        print(f"{result.table()}{notes}\n({time.perf_counter() - started:.0f} s)\n", flush=True)
        results.append(result)
    return results


SUMMARY_HEADER = "| benchmark | measure | baseline | ours | ours vs baseline | target | met |"


def summary(results: list[Result], earlier: str = "") -> str:
    """Every measure with a target, across the benchmarks: the page's first table. The rows
    of benchmarks that did not run now are kept from `earlier` (the table as it was), and
    the rows of those that did take the place of their old ones."""
    fresh: dict[str, list[str]] = {}
    for result in results:
        fresh[result.title] = []
        for row in result.rows:
            if row.target:
                ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
                met = "yes" if row.met else "**no**"
                fresh[result.title].append(
                    f"| {result.title} | {row.measure} | {row.baseline} | {row.ours} | {ratio} "
                    f"| {row.target} | {met} |"
                )
    lines = [SUMMARY_HEADER, "|---|---|---|---|---|---|---|"]
    replaced = set(fresh)
    for line in earlier.splitlines():
        if not line.startswith("| ") or line == SUMMARY_HEADER:
            continue
        title = line[2:].split(" | ", 1)[0]
        if title not in replaced:
            lines.append(line)
        elif title in fresh:  # its new rows where its old ones began
            lines.extend(fresh.pop(title))
    lines.extend(line for rows in fresh.values() for line in rows)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's scale (170,000 videos); long")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run these benchmarks only")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args()
    scale = "full" if args.full else "quick"
    names = args.only or BENCHMARKS
    work = Path(tempfile.mkdtemp(prefix="scheduler-bench-"))
    charts = work / "charts" if args.no_report else DOCS
    charts.mkdir(exist_ok=True)
    try:
        with servers(work) as (database_url, redis_url):
            env = Environment(database_url, redis_url, work, scale, charts)
            results = run_benchmarks(env, names)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.no_report:
        return 0
    command = f"nox -s bench{' -- --full' if args.full else ''}"
    date = time.strftime("%Y-%m-%d")
    text = REPORT.read_text()
    for result in results:
        text = write_section(text, result.key, result.section(command, machine(), date))
    run = f"Run: `{command}` on {machine()}, {date}"
    if set(names) != set(BENCHMARKS):
        run += f" ({', '.join(names)}; the other rows from earlier runs, each dated in its section)"
    text = write_section(text, "summary", f"{run}.\n\n{summary(results, section_of(text, 'summary'))}")
    REPORT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
