"""How `serve` and `migrate` start: every way they cannot ends in one line on stderr that
names the cause and the setting, with its documented exit code (scheduler/startup.py);
servers that do not answer yet are waited for. As processes, as an operator meets them."""

from __future__ import annotations

import errno
import json
import signal
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
import trio
import trio.testing

from scheduler import startup
from scheduler.db import probe
from scheduler.errors import ServerRefused, ServerUnavailable, network_problem
from scheduler.serve import probes
from scheduler.startup import Patience, Server, StartupFailure
from tests.conftest import Database
from tests.fake_video_service import running_fake_http
from tests.support import free_port, scheduler_command, scheduler_process, wait_until_listening
from tests.test_commands import cli, service_environment


async def start(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`scheduler serve` (or `args`) to its end: its exit code and the one line it wrote."""
    with trio.fail_after(60):
        result = await trio.run_process(
            scheduler_command(*(args or ("serve",))),
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr.decode()
    return result.returncode, lines[0]


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A service that would start (a migrated database), waiting for nothing."""
    environment = service_environment(database_url, redis_url, free_port(), tmp_path)
    environment["SCHEDULER_STARTUP__WAIT_S"] = "0"
    return environment


@contextmanager
def port_taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


# The ports.


async def test_the_api_port_in_use(env: dict[str, str]) -> None:
    with port_taken() as port:
        env["SCHEDULER_GRPC__PORT"] = str(port)
        code, line = await start(env)

    assert code == startup.EXIT_CANNOT_LISTEN == 3
    assert f"ERROR scheduler: cannot start: port {port} is in use (SCHEDULER_GRPC__PORT)" in line


async def test_the_metrics_port_in_use_before_anything_is_said_to_serve(env: dict[str, str]) -> None:
    with port_taken() as port:
        env["SCHEDULER_METRICS__PORT"] = str(port)
        code, line = await start(env)  # one line: nothing logged as serving

    assert code == 3
    assert f"cannot start: port {port} is in use (SCHEDULER_METRICS__PORT)" in line


async def test_an_address_that_is_not_this_hosts(env: dict[str, str]) -> None:
    env["SCHEDULER_GRPC__HOST"] = "192.0.2.1"  # TEST-NET-1: no host has it

    code, line = await start(env)

    assert code == 3
    assert "cannot start: 192.0.2.1 is not an address of this host (SCHEDULER_GRPC__HOST)" in line


# The database.


async def test_a_database_that_refuses(env: dict[str, str]) -> None:
    port = free_port()
    env["SCHEDULER_DATABASE__URL"] = f"postgresql://postgres@127.0.0.1:{port}/archive"

    code, line = await start(env)

    assert code == startup.EXIT_UNAVAILABLE == 1
    assert (
        f"cannot start: PostgreSQL at 127.0.0.1:{port}/archive did not answer: connection refused "
        "(SCHEDULER_DATABASE__URL)"
    ) in line


async def test_a_database_that_does_not_answer(env: dict[str, str]) -> None:
    with port_taken() as port:  # it listens, and never says a word
        env["SCHEDULER_DATABASE__URL"] = f"postgresql://postgres@127.0.0.1:{port}/archive"
        code, line = await start(env)

    assert code == 1
    assert (
        f"PostgreSQL at 127.0.0.1:{port}/archive did not answer: no answer within 5 s "
        "(SCHEDULER_DATABASE__URL)"
    ) in line


async def test_a_database_that_does_not_exist(env: dict[str, str], postgres_url: str) -> None:
    env["SCHEDULER_DATABASE__URL"] = postgres_url.rsplit("/", 1)[0] + "/no_such_database"

    code, line = await start(env)

    assert code == startup.EXIT_SETTING == 2
    assert 'no_such_database: database "no_such_database" does not exist (SCHEDULER_DATABASE__URL)' in line


async def test_a_role_the_database_refuses(env: dict[str, str], database_url: str) -> None:
    env["SCHEDULER_DATABASE__URL"] = database_url.replace("postgres@", "intruder:secret@")

    code, line = await start(env)

    assert code == 2
    assert 'role "intruder" does not exist (SCHEDULER_DATABASE__URL)' in line
    assert "secret" not in line


async def test_a_migration_that_fails(env: dict[str, str], db: Database) -> None:
    await db.fetch("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")

    served = await start(env)
    migrated = await start(env, "migrate")

    assert served[0] == migrated[0] == startup.EXIT_MIGRATION == 4
    assert "cannot start: migration 0001_initial.sql changed after it was applied" in served[1]
    assert "cannot migrate: migration 0001_initial.sql changed" in migrated[1]


# Redis.


async def test_redis_that_refuses(env: dict[str, str]) -> None:
    port = free_port()
    env["SCHEDULER_REDIS__URLS"] = json.dumps([f"redis://127.0.0.1:{port}/0"])

    code, line = await start(env)

    assert code == 1
    assert f"Redis at 127.0.0.1:{port} did not answer: connection refused (SCHEDULER_REDIS__URLS)" in line


async def test_redis_that_does_not_answer(env: dict[str, str]) -> None:
    with port_taken() as port:
        env["SCHEDULER_REDIS__URLS"] = json.dumps([f"redis://127.0.0.1:{port}/0"])
        code, line = await start(env)

    assert code == 1
    assert f"Redis at 127.0.0.1:{port} did not answer: no answer within 5 s (SCHEDULER_REDIS__URLS)" in line


async def test_redis_that_refuses_the_password(env: dict[str, str], redis_url: str) -> None:
    env["SCHEDULER_REDIS__URLS"] = json.dumps([redis_url.replace("redis://", "redis://intruder:secret@")])

    code, line = await start(env)

    assert code == 2
    assert "authentication failed" in line and "(SCHEDULER_REDIS__URLS)" in line
    assert "secret" not in line


async def test_a_quorum_of_redis_is_enough(env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    env["SCHEDULER_REDIS__URLS"] = json.dumps([redis_url, redis_url.rsplit("/", 1)[0] + "/1", down])
    port = int(env["SCHEDULER_GRPC__PORT"])
    async with scheduler_process(env, tmp_path / "serve.log", "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, tmp_path / "serve.log")
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await serve.wait() == 0

    env["SCHEDULER_REDIS__URLS"] = json.dumps([redis_url, down, down.replace("/0", "/1")])
    code, line = await start(env)
    assert code == 1
    assert "did not answer" in line and line.count("connection refused") == 2


# TLS and the Video Service.


async def test_a_tls_file_that_cannot_be_loaded(env: dict[str, str], tmp_path: Path) -> None:
    garbage = tmp_path / "server.pem"
    garbage.write_text("not a certificate\n")
    env["SCHEDULER_GRPC__TLS_CERT"] = env["SCHEDULER_GRPC__TLS_KEY"] = str(garbage)

    code, line = await start(env)

    assert code == 2
    assert "cannot start: cannot load the TLS certificate, key or client CA" in line
    assert "SCHEDULER_GRPC__TLS_CERT" in line


async def test_a_video_service_address_that_is_not_valid(env: dict[str, str]) -> None:
    env["SCHEDULER_VIDEO_SERVICE__KIND"] = "horahora"
    env["SCHEDULER_VIDEO_SERVICE__ADDRESS"] = "video-service:http"

    code, line = await start(env)

    assert code == 2
    assert line.startswith("scheduler: SCHEDULER_VIDEO_SERVICE__ADDRESS: must be host:port"), line


@pytest.mark.parametrize(("kind", "setting"), [("horahora", "ADDRESS"), ("http", "URL")])
async def test_a_video_service_that_refuses(env: dict[str, str], kind: str, setting: str) -> None:
    port = free_port()
    where = f"127.0.0.1:{port}" if kind == "horahora" else f"http://127.0.0.1:{port}"
    env["SCHEDULER_VIDEO_SERVICE__KIND"] = kind
    env[f"SCHEDULER_VIDEO_SERVICE__{setting}"] = where

    code, line = await start(env)

    assert code == 1
    assert (
        f"cannot start: the {kind} Video Service at {where} did not answer: connection refused "
        f"(SCHEDULER_VIDEO_SERVICE__{setting})"
    ) in line


# Tracebacks, waiting, and a signal while waiting.


async def test_the_traceback_only_at_debug(env: dict[str, str]) -> None:
    env["SCHEDULER_DATABASE__URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/archive"
    env["SCHEDULER_LOG__LEVEL"] = "DEBUG"

    result = await trio.run_process(
        scheduler_command("serve"), env=env, capture_stderr=True, capture_stdout=True, check=False
    )

    assert result.returncode == 1
    assert "Traceback" in result.stderr.decode()
    assert "did not answer: connection refused (SCHEDULER_DATABASE__URL)" in result.stderr.decode()


async def test_serve_waits_for_a_video_service_that_starts_late(env: dict[str, str], tmp_path: Path) -> None:
    service_port, port = free_port(), int(env["SCHEDULER_GRPC__PORT"])
    env |= {
        "SCHEDULER_STARTUP__WAIT_S": "60",
        "SCHEDULER_VIDEO_SERVICE__KIND": "http",
        "SCHEDULER_VIDEO_SERVICE__URL": f"http://127.0.0.1:{service_port}",
    }
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(30):
            while "waiting for the http Video Service" not in log.read_text():  # noqa: ASYNC110
                await trio.sleep(0.1)
        waiting_health = await cli("health", "--target", f"127.0.0.1:{port}", "--timeout", "2")
        async with running_fake_http(service_port):
            with trio.fail_after(30):
                await wait_until_listening(port, serve, log)
            health = await cli("health", "--target", f"127.0.0.1:{port}")
            serve.send_signal(signal.SIGTERM)
            with trio.fail_after(15):
                assert await serve.wait() == 0, log.read_text()

    assert waiting_health.returncode == 1  # the port is not bound while it waits
    assert b"(connection refused)" in waiting_health.stderr
    assert health.stdout == b"SERVING\n"
    text = log.read_text()
    assert (
        f"waiting for the http Video Service at http://127.0.0.1:{service_port}: connection refused; "
        "next try in 0.5 s"
    ) in text
    assert text.index("waiting for") < text.index("serving gRPC on")


async def test_a_signal_while_waiting_stops_at_once(env: dict[str, str], tmp_path: Path) -> None:
    env["SCHEDULER_DATABASE__URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/archive"
    env["SCHEDULER_STARTUP__WAIT_S"] = "600"
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(30):
            while "waiting for PostgreSQL" not in log.read_text():  # noqa: ASYNC110
                await trio.sleep(0.1)
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await serve.wait() == 0

    assert "received SIGTERM while starting: stopping (again to stop at once)" in log.read_text()


# The rules, without servers.


async def test_waiting_backs_off_up_to_the_patience(autojump_clock: trio.testing.MockClock) -> None:
    attempts: list[tuple[float, float]] = []

    async def refused(timeout_s: float) -> None:
        attempts.append((trio.current_time(), timeout_s))
        raise ServerUnavailable("connection refused")

    patience = Patience(20)
    with pytest.raises(StartupFailure) as failure:
        await startup.wait_for(
            Server("PostgreSQL at db:5432/archive", "SCHEDULER_DATABASE__URL"), refused, patience
        )

    assert [round(at, 1) for at, _ in attempts] == [0, 0.5, 1.5, 3.5, 7.5, 12.5, 17.5, 20]
    # Every attempt gets its full time, the last too (a server a slow network away).
    assert {timeout for _, timeout in attempts} == {startup.ATTEMPT_TIMEOUT_S}
    assert str(failure.value) == (
        "PostgreSQL at db:5432/archive did not answer within 20 s: connection refused "
        "(SCHEDULER_DATABASE__URL)"
    )
    assert failure.value.exit_code == 1


async def test_a_refusal_is_not_waited_out(autojump_clock: trio.testing.MockClock) -> None:
    async def wrong_password(timeout_s: float) -> None:
        raise ServerRefused('password authentication failed for user "scheduler"')

    with pytest.raises(StartupFailure) as failure:
        await startup.wait_for(
            Server("PostgreSQL at db:5432/x", "SCHEDULER_DATABASE__URL"), wrong_password, Patience(60)
        )

    assert trio.current_time() == 0
    assert failure.value.exit_code == 2
    assert str(failure.value).endswith('failed for user "scheduler" (SCHEDULER_DATABASE__URL)')


async def test_an_answer_ends_the_wait(autojump_clock: trio.testing.MockClock) -> None:
    answers = iter([ServerUnavailable("the database system is starting up"), None])

    async def starting(timeout_s: float) -> str:
        if error := next(answers):
            raise error
        return "up"

    assert (
        await startup.wait_for(Server("PostgreSQL", "SCHEDULER_DATABASE__URL"), starting, Patience(60))
        == "up"
    )
    assert trio.current_time() == 0.5


def test_bind_failures_name_the_setting() -> None:
    def line(error: OSError) -> str:
        return str(startup.cannot_listen(error, "::1", 80, "SCHEDULER_GRPC__HOST", "SCHEDULER_GRPC__PORT"))

    assert line(OSError(errno.EADDRINUSE, "in use")) == "port 80 is in use (SCHEDULER_GRPC__PORT)"
    assert (
        line(OSError(errno.EACCES, "denied"))
        == "port 80 needs privileges this process lacks (SCHEDULER_GRPC__PORT)"
    )
    assert (
        line(OSError(errno.EADDRNOTAVAIL, "x")) == "::1 is not an address of this host (SCHEDULER_GRPC__HOST)"
    )
    assert line(socket.gaierror(-2, "x")) == "::1: the host name does not resolve (SCHEDULER_GRPC__HOST)"


def test_database_errors_in_an_operators_words() -> None:
    assert isinstance(probe.classify(asyncpg.InvalidPasswordError("password failed")), ServerRefused)
    assert isinstance(probe.classify(asyncpg.InvalidCatalogNameError('database "x"')), ServerRefused)
    assert isinstance(probe.classify(asyncpg.CannotConnectNowError("starting up")), ServerUnavailable)
    assert isinstance(probe.classify(ssl.SSLError(1, "certificate verify failed")), ServerRefused)
    assert str(probe.classify(TimeoutError(), 5)) == "no answer within 5 s"
    assert str(probe.classify(OSError(errno.EHOSTUNREACH, "No route to host"))) == "no route to host"
    assert probe.where("postgresql://user:secret@db.internal:6432/archive?sslmode=require") == (
        "PostgreSQL at db.internal:6432/archive"
    )
    assert (
        probe.where("postgresql:///archive?host=/run/postgresql")
        == "PostgreSQL at /run/postgresql:5432/archive"
    )
    assert probes.redis_where("redis://:secret@cache:6380/0") == "cache:6380"
    assert probes.redis_where("unix:///run/redis/redis.sock") == "/run/redis/redis.sock"


def test_the_cause_is_found_under_a_clients_own_error() -> None:
    try:
        try:
            raise ExceptionGroup("every address", [ConnectionRefusedError(111, "Connection refused")])
        except ExceptionGroup as group:
            raise OSError("all attempts to connect to db:5432 failed") from group
    except OSError as wrapped:
        error = wrapped

    assert network_problem(error) == "connection refused"
    assert network_problem(ValueError("no network here")) is None


def test_an_unforeseen_error_is_one_line_too() -> None:
    group = BaseExceptionGroup("nursery", [trio.Cancelled._create(), KeyError("state")])  # type: ignore[attr-defined]

    failure = startup.as_failure(group)

    assert (str(failure), failure.exit_code) == ("KeyError: 'state'", 1)
    assert startup.as_failure(BaseExceptionGroup("x", [StartupFailure("port 1 is in use", 3)])).exit_code == 3


async def test_a_stop_asked_for_ends_the_wait(autojump_clock: trio.testing.MockClock) -> None:
    async def refused(timeout_s: float) -> None:
        raise ServerUnavailable("connection refused")

    patience = Patience(600)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, patience.stop_requested, 10)
        with pytest.raises(startup.StopRequested):
            await startup.wait_for(Server("Redis at r:6379", "SCHEDULER_REDIS__URLS"), refused, patience)

    assert trio.current_time() == 10


async def _set_after(event: trio.Event, seconds: float) -> None:
    await trio.sleep(seconds)
    event.set()


@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.2])
async def test_a_stop_the_moment_it_listens_is_clean(
    env: dict[str, str], db: Database, tmp_path: Path, delay_s: float
) -> None:
    """A connection attempt cancelled half-way leaves asyncio an exception nobody reads;
    trio-asyncio's own handler used to raise it into the loop, and the stop hung."""
    port, log = int(env["SCHEDULER_GRPC__PORT"]), tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        await trio.sleep(delay_s)
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await serve.wait() == 0, log.read_text()

    assert await db.value("SELECT count(*) FROM instances WHERE stopped_at IS NULL") == 0
    assert "Traceback" not in log.read_text()
