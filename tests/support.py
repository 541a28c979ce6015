"""Helpers shared by the tests: URLs, free ports, `scheduler` subprocesses, metrics."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import trio
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]


def database_url_for(server_url: str, name: str) -> str:
    """The same server's URL with another database name."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scheduler_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scheduler", *args]


# The local content site is one host, 127.0.0.1: the default "*" limit (two downloads, a
# second apart) would pace every test. Tests of the limits set their own.
NO_SITE_LIMITS = {"*": {"downloads": 1000, "listings": 1000, "interval_s": 0.0}}


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any SCHEDULER_* variable, plus `overrides`. The
    metrics endpoint is off unless asked for: several instances run on one host here; the
    site limits too (NO_SITE_LIMITS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["SCHEDULER_METRICS__PORT"] = "0"
    env["SCHEDULER_SITES__LIMITS"] = '{"*" = {downloads = 1000, listings = 1000, interval_s = 0}}'
    env.update(overrides)
    return env


@asynccontextmanager
async def scheduler_process(env: Mapping[str, str], log: Path, *args: str) -> AsyncIterator[trio.Process]:
    """`scheduler <args>` as a child process, its output in `log`; killed if the test leaves it running."""
    with log.open("wb") as output:
        process = await trio.lowlevel.open_process(
            scheduler_command(*args), env=dict(env), stdout=output, stderr=output, cwd=REPO
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def wait_until_listening(port: int, process: trio.Process, log: Path) -> None:
    """Polls the port until it accepts a connection (ready means the port listens)."""
    while True:
        if process.poll() is not None:
            raise AssertionError(f"scheduler exited with {process.returncode}:\n{log.read_text()}")
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.05)
        else:
            await stream.aclose()
            return


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    response = await trio.to_thread.run_sync(httpx.get, f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def worker_processes() -> list[psutil.Process]:
    """The live yt-dlp worker processes below this one (scheduler/pipeline/ytdlp/worker.py)."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "scheduler.pipeline.ytdlp.worker" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE
    ]
