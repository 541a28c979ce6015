"""Importing subscriptions: lines per second into a running service.

Baseline: one ScheduleCategory call per line, one after another, as a script over the
API would bring a list in. Ours: ImportSubscriptions, every line on one client stream,
stored in transactions of IMPORT_BATCH lines (three statements each). Each side runs its
own `scheduler serve` (API only: no syncer lists what is imported) on a fresh database,
with the same lines: new categories on this host, one user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import trio
from grpclib.client import Channel

from benchmarks.harness import Environment, Result, Row, fetch, ratio, serve_environment
from scheduler.api.servicer import IMPORT_BATCH
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.support import free_port, scheduler_process, wait_until_listening

USER = 1


@dataclass(frozen=True)
class Side:
    lines: int
    seconds: float
    subscriptions: int  # in the database afterwards

    @property
    def per_second(self) -> float:
        return self.lines / self.seconds


def lines_of(count: int) -> list[pb.ImportLine]:
    return [
        pb.ImportLine(user_id=USER, url=f"http://127.0.0.1/channels/{n}/feed.xml", line=n + 1)
        for n in range(count)
    ]


async def _one_call_per_line(port: int, lines: list[pb.ImportLine]) -> None:
    channel = Channel("127.0.0.1", port)
    try:
        stub = SchedulerStub(channel)
        for line in lines:
            await stub.ScheduleCategory(pb.ScheduleCategoryRequest(url=line.url, user_id=line.user_id))
    finally:
        channel.close()


async def _one_stream(port: int, lines: list[pb.ImportLine]) -> None:
    channel = Channel("127.0.0.1", port)
    try:
        async with SchedulerStub(channel).ImportSubscriptions.open() as stream:
            for line in lines:
                await stream.send_message(line)
            await stream.end()
            answer = await stream.recv_message()
        assert answer is not None and answer.created == len(lines), answer
    finally:
        channel.close()


async def measure(env: Environment, dsn: str, name: str, lines: list[pb.ImportLine], streamed: bool) -> Side:
    data_dir = env.work / name
    data_dir.mkdir()
    port = free_port()
    environment = serve_environment(
        env,
        dsn,
        data_dir,
        port,
        SCHEDULER_SYNC__WORKERS="0",
        SCHEDULER_SCHEDULE__POLLERS="0",
        SCHEDULER_DOWNLOADER__WORKERS="0",
    )
    log = data_dir / "serve.log"
    async with scheduler_process(environment, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        send = _one_stream if streamed else _one_call_per_line
        began = time.perf_counter()
        await trio.to_thread.run_sync(asyncio.run, send(port, lines))  # a client of its own, as the CLI is
        seconds = time.perf_counter() - began
        serve.terminate()
    [row] = await trio.to_thread.run_sync(asyncio.run, fetch(dsn, "SELECT count(*) FROM subscriptions"))
    return Side(len(lines), seconds, int(row[0]))


def run(env: Environment) -> Result:
    count = int(env.pick(200, 2_000, 10_000))
    lines = lines_of(count)
    with env.populated_copies("imports", "", (), 2) as [baseline_dsn, ours_dsn]:
        baseline = trio.run(measure, env, baseline_dsn, "baseline", lines, False)
        ours = trio.run(measure, env, ours_dsn, "ours", lines, True)
    assert baseline.subscriptions == ours.subscriptions == count, (baseline, ours)
    return Result(
        key="imports",
        title="Importing subscriptions",
        setup=(
            f"{count:,} lines (new categories, one user) into `scheduler serve` on a fresh database. "
            "Baseline: one ScheduleCategory call per line, in turn; ours: ImportSubscriptions, one "
            f"client stream, stored {IMPORT_BATCH} lines a transaction."
        ),
        rows=[
            Row(
                "lines per second",
                f"{baseline.per_second:,.0f}",
                f"{ours.per_second:,.0f}",
                ratio(baseline.per_second, ours.per_second),
                "more than the baseline",
                ours.per_second > baseline.per_second,
            ),
            Row("import of every line (s)", f"{baseline.seconds:.2f}", f"{ours.seconds:.2f}"),
        ],
    )
