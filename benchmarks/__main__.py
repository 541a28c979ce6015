"""`nox -s bench [-- --full]`: every benchmark, baseline and ours, into docs/performance.md.

The servers are found as the tests find them: SCHEDULER_TEST_DATABASE_URL, else an
embedded PostgreSQL started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.claims import ClaimRun, claim_benchmark
from scheduler import embedded

REPORT = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
MARKER_START, MARKER_END = "<!-- bench:claims:start -->", "<!-- bench:claims:end -->"
SCALES = {"quick": (17_000, 100, 10.0), "full": (170_000, 1_000, 30.0)}


def claims_table(baseline: ClaimRun, ours: ClaimRun) -> str:
    rows = [
        (
            "claims/s",
            f"{baseline.per_second:.0f}",
            f"{ours.per_second:.0f}",
            ours.per_second / baseline.per_second,
        ),
        (
            "p50 per statement (ms)",
            f"{baseline.percentile(50):.1f}",
            f"{ours.percentile(50):.1f}",
            baseline.percentile(50) / max(ours.percentile(50), 1e-9),
        ),
        (
            "p99 per statement (ms)",
            f"{baseline.percentile(99):.1f}",
            f"{ours.percentile(99):.1f}",
            baseline.percentile(99) / max(ours.percentile(99), 1e-9),
        ),
        ("serialization retries", str(baseline.retries), str(ours.retries), None),
        ("double claims", str(baseline.double_claims), str(ours.double_claims), None),
        ("videos claimed", str(len(baseline.claimed)), str(len(ours.claimed)), None),
    ]
    lines = ["| measure | baseline | ours | ours vs baseline |", "|---|---|---|---|"]
    lines += [f"| {m} | {b} | {o} | {f'{r:.2f}x' if r is not None else ''} |" for m, b, o, r in rows]
    return "\n".join(lines)


def write_section(text: str, section: str) -> str:
    block = f"{MARKER_START}\n{section}\n{MARKER_END}"
    pattern = f"{re.escape(MARKER_START)}.*{re.escape(MARKER_END)}"
    return (
        re.sub(pattern, lambda _: block, text, flags=re.S) if MARKER_START in text else f"{text}\n{block}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's scale (170,000 videos); minutes")
    parser.add_argument("--report", type=lambda s: Path(s) if s else None, default=REPORT)
    args = parser.parse_args()
    scale = "full" if args.full else "quick"
    videos, categories, seconds = SCALES[scale]
    server = None
    dsn = os.environ.get("SCHEDULER_TEST_DATABASE_URL")
    if not dsn:
        server = embedded.start_postgres(Path(tempfile.mkdtemp(prefix="scheduler-bench-")))
        dsn = server.url
    try:
        baseline, ours = asyncio.run(claim_benchmark(dsn, videos, categories, seconds=seconds))
    finally:
        if server is not None:
            server.stop()
    table = claims_table(baseline, ours)
    print(table)
    if args.report:
        machine = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
        section = (
            f"Run: `nox -s bench{' -- --full' if args.full else ''}` ({scale}: {videos:,} pending videos in "
            f"{categories:,} categories, 4 pollers claiming batches of 16 for up to {seconds:g} s each) "
            f"on {machine}, {time.strftime('%Y-%m-%d')}.\n\n{table}"
        )
        args.report.write_text(write_section(args.report.read_text(), section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
