"""`scheduler` as a user runs it: serve, migrate and the client commands, as processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis
import trio

from tests.conftest import ALLOWED_SITES, Database
from tests.content_site import ContentSite, content_site
from tests.support import (
    clean_environment,
    free_port,
    scheduler_command,
    scheduler_process,
    wait_until_listening,
)
from tests.test_pipeline import wait_for


def service_environment(database_url: str, redis_url: str, port: int, data_dir: Path) -> dict[str, str]:
    return clean_environment(
        SCHEDULER_DATABASE__URL=database_url,
        SCHEDULER_REDIS__URLS=json.dumps([redis_url]),
        SCHEDULER_GRPC__HOST="127.0.0.1",
        SCHEDULER_GRPC__PORT=str(port),
        SCHEDULER_SITES__ALLOWED=json.dumps(ALLOWED_SITES),
        SCHEDULER_DATA_DIR=str(data_dir),
    )


async def cli(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """`scheduler <args>` with no SCHEDULER_* variable but `env`."""
    return await trio.run_process(
        scheduler_command(*args),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=clean_environment(**env),
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_answers_the_client_commands_and_stops_cleanly(
    database_url: str, redis_url: str, tmp_path: Path, stop_signal: signal.Signals, db: Database
) -> None:
    port = free_port()
    env = service_environment(database_url, redis_url, port, tmp_path) | {"SCHEDULER_LOG__FORMAT": "json"}
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        target = f"127.0.0.1:{port}"

        scheduled = await cli("schedule", "http://127.0.0.1/feed.xml", "--user", "4", "--target", target)
        listed = await cli("categories", "--user", "4", "--target", target, "--json")
        events = await cli("events", "--target", target)
        refused = await cli("schedule", "file:///etc/passwd", "--user", "4", "--target", target)
        health = await cli("health", "--target", target)
        await db.add_video(1, "broken", status="failed")
        retried = await cli("retry", "--failed", "--website", "127.0.0.1", "--target", target)
        # The service tries it again at once (its URL leads nowhere): the stats below are
        # read once that attempt is over, not while it runs.
        await wait_for(db, "SELECT (status::text, attempts) FROM videos", ("pending", 1))
        stats = await cli("stats", "--target", target)
        sites = await cli("sites", "--target", target)
        reset = await cli("sites", "reset", "www.nicovideo.jp", "--target", target)

        serve.send_signal(stop_signal)
        with trio.fail_after(15):
            assert await serve.wait() == 0, log.read_text()

    assert scheduled.returncode == 0
    assert scheduled.stdout.decode().startswith("created category 1 (http://127.0.0.1/feed.xml)")
    assert json.loads(listed.stdout)["categories"][0]["url"] == "http://127.0.0.1/feed.xml"
    assert "user 4 subscribed" in events.stdout.decode()
    assert (health.returncode, health.stdout) == (0, b"SERVING\n")
    assert retried.stdout == b"1 failed videos put back to pending\n"
    videos, instances = stats.stdout.decode().split("\n\n")[1:]
    assert videos.splitlines()[1].split()[:7] == ["127.0.0.1", "1", "0", "0", "0", "0", "0"]
    [instance] = instances.splitlines()[1:]
    assert instance.split()[1] == "alive"
    assert await db.value("SELECT instance_state(i) FROM instances i") == "stopped"
    assert sites.stdout.decode().splitlines()[0].split() == [
        "SITE", "DOWNLOADS", "LISTINGS", "INTERVAL", "BREAKER", "REASON", "PROBE", "COOKIES"
    ]  # fmt: skip
    assert sites.stdout.decode().splitlines()[-1].split() == [
        "*",
        "1000",
        "1000",
        "0s",
        "closed",
        "-",
        "-",
        "-",
    ]
    assert reset.stdout == b"site *.nicovideo.jp: breaker was not open\n"
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    assert any(line["message"].startswith("serving gRPC on") for line in lines)
    stopped = "stopped: 0 downloads finished, 0 given back, in "
    assert any(line["message"].startswith(stopped) for line in lines)
    workers = [line for line in lines if line["logger"].startswith("scheduler.pipeline.")]
    assert workers and all(line["instance"] for line in workers)
    assert refused.returncode == 1
    assert refused.stderr.decode().splitlines() == [
        "scheduler: INVALID_ARGUMENT: url: scheme 'file' is not allowed; give an http:// or https:// URL"
    ]


async def test_sites_reset_names_the_site() -> None:
    result = await cli("sites", "reset")

    assert result.returncode == 2
    assert "sites reset SITE" in result.stderr.decode().splitlines()[-1]


async def test_retry_names_what_to_retry() -> None:
    result = await cli("retry", "--failed", "--user", "1")

    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        "scheduler: error: retry: give --user and --category, or --website"
    )


@pytest.mark.parametrize("command", ["downloads", "health"])
async def test_a_client_command_without_a_service_says_so_in_one_line(command: str) -> None:
    result = await cli(command, "--target", f"127.0.0.1:{free_port()}")

    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()
    assert re.fullmatch(
        r"scheduler: cannot reach the service at 127\.0\.0\.1:\d+ \(connection refused\)", line
    )


async def test_a_service_that_does_not_answer_is_given_up_after_the_timeout() -> None:
    with trio.socket.socket() as silent:  # accepts connections, never says a word
        await silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = trio.current_time()
        result = await cli("categories", "--user", "1", "--target", f"127.0.0.1:{port}", "--timeout", "1")
        took = trio.current_time() - started

    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"scheduler: cannot reach the service at 127.0.0.1:{port} (no answer within 1 s)"
    ]
    assert took < 10


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SCHEDULER_GRPC__PORT",
            "abc",
            "SCHEDULER_GRPC__PORT: must be an integer from 0 to 65535, got 'abc'",
        ),
        ("SCHEDULER_GRPC__PROT", "7000", "SCHEDULER_GRPC__PROT: unknown setting"),
        ("SCHEDULER_REDIS__URLS", '["http://x"]', "SCHEDULER_REDIS__URLS: every URL must start with"),
        ("SCHEDULER_DATABASE__URL", "mysql://db", "SCHEDULER_DATABASE__URL: must be a postgresql:// URL"),
        ("SCHEDULER_SETTINGS_FILE", "/nonexistent.toml", "SCHEDULER_SETTINGS_FILE: no such file"),
    ],
    ids=["port", "unknown", "redis", "database", "file"],
)
async def test_a_bad_setting_stops_serve_with_one_line_and_exit_code_2(
    variable: str, value: str, message: str
) -> None:
    result = await trio.run_process(
        scheduler_command("serve"),
        env=clean_environment(**{variable: value}),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )

    assert result.returncode == 2
    [line] = result.stderr.decode().splitlines()
    assert line.startswith(f"scheduler: {message}"), line


async def test_migrate_applies_the_schema(empty_database_url: str, redis_url: str, tmp_path: Path) -> None:
    env = service_environment(empty_database_url, redis_url, 0, tmp_path)

    first = await trio.run_process(scheduler_command("migrate"), env=env, capture_stderr=True, check=False)
    second = await trio.run_process(scheduler_command("migrate"), env=env, capture_stderr=True, check=False)

    assert (first.returncode, second.returncode) == (0, 0)
    assert "applied migration 0001_initial" in first.stderr.decode()
    assert "applied migration" not in second.stderr.decode()


async def test_serve_with_nothing_configured_runs_embedded_servers_and_leaves_none(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = clean_environment(
        SCHEDULER_DATA_DIR=str(data_dir), SCHEDULER_GRPC__PORT=str(port), SCHEDULER_GRPC__HOST="127.0.0.1"
    )
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(120):
            await wait_until_listening(port, serve, log)
        scheduled = await cli(
            "schedule",
            "--site",
            "niconico",
            "--kind",
            "tag",
            "--value",
            "YTPMV",
            "--user",
            "1",
            "--target",
            f"127.0.0.1:{port}",
        )
        servers = [
            p
            for p in psutil.process_iter(["cmdline", "name"])
            if str(data_dir) in " ".join(p.info["cmdline"] or [])
        ]

        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(60):
            assert await serve.wait() == 0, log.read_text()

    assert scheduled.stdout.decode().startswith("created category 1 (https://www.nicovideo.jp/tag/YTPMV)")
    assert {p.info["name"] for p in servers} >= {"postgres", "redis-server"}
    assert not [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@dataclass
class SlowDownload:
    serve: trio.Process
    port: int
    site: ContentSite
    log: Path


@asynccontextmanager
async def serving_a_slow_download(
    database_url: str, redis_url: str, tmp_path: Path, db: Database, grace_s: float
) -> AsyncIterator[SlowDownload]:
    """`scheduler serve` as a process, in the middle of a download that trickles."""
    port = free_port()
    env = service_environment(database_url, redis_url, port, tmp_path) | {
        "SCHEDULER_SHUTDOWN__GRACE_S": str(grace_s),
        "SCHEDULER_SCHEDULE__POLL_INTERVAL_S": "0.2",
    }
    log = tmp_path / "serve.log"
    with content_site() as site:
        site.add_video("slow", size=10_000_000)
        site.set_mode("slow", "trickle")
        feed = site.feed("feed", ["slow"])
        async with scheduler_process(env, log, "serve") as serve:
            with trio.fail_after(60):
                await wait_until_listening(port, serve, log)
            await cli("schedule", feed, "--user", "1", "--target", f"127.0.0.1:{port}")
            with trio.fail_after(60):
                while await db.value("SELECT status::text FROM videos") != "downloading":  # noqa: ASYNC110
                    await trio.sleep(0.1)
            yield SlowDownload(serve, port, site, log)


async def test_sigterm_mid_download_exits_cleanly_and_gives_the_video_back(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    async with serving_a_slow_download(database_url, redis_url, tmp_path, db, grace_s=1) as running:
        watch = await trio.lowlevel.open_process(
            scheduler_command("watch", "--target", f"127.0.0.1:{running.port}"),
            stdout=subprocess.PIPE,
            env=clean_environment(),
        )
        assert watch.stdout is not None
        watched = ""
        with trio.fail_after(30):
            while "downloading" not in watched:  # it has shown what is in flight
                watched += (await watch.stdout.receive_some(65536)).decode()

        running.serve.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await running.serve.wait() == 0, running.log.read_text()
        with trio.fail_after(10):
            await watch.wait()  # the stream ends with the service

    site, log = running.site, running.log
    [row] = await db.fetch("SELECT status::text, lease_owner, attempts FROM videos")
    assert (row["status"], row["lease_owner"], row["attempts"]) == ("pending", None, 0)
    assert "stopping gracefully" in log.read_text()
    assert re.search(r"stopped: 0 downloads finished, 1 given back, in \d+\.\d s", log.read_text())
    lock_key = f"scheduler:lock:{site.host}:slow"
    assert await trio.to_thread.run_sync(redis.Redis.from_url(redis_url).exists, lock_key) == 0  # given back
    assert f"video {await db.value('SELECT id FROM videos')} ({site.host} slow): downloading" in watched
    assert not list((tmp_path / "work").glob("*/*")), "a partial download survived"


async def test_a_second_signal_stops_at_once_and_still_gives_the_video_back(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    # A grace of 300 s: the first signal alone would wait minutes.
    async with serving_a_slow_download(database_url, redis_url, tmp_path, db, grace_s=300) as running:
        running.serve.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            while "stopping gracefully" not in running.log.read_text():  # noqa: ASYNC110 (another process)
                await trio.sleep(0.05)
        running.serve.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            assert await running.serve.wait() == 0, running.log.read_text()
    log = running.log

    [row] = await db.fetch("SELECT status::text, lease_owner FROM videos")
    assert (row["status"], row["lease_owner"]) == ("pending", None)
    assert "again: stopping now" in log.read_text()


def _listening_addresses(process: trio.Process) -> set[str]:
    return {
        connection.laddr.ip
        for connection in psutil.Process(process.pid).net_connections("inet")
        if connection.status == psutil.CONN_LISTEN
    }


async def test_serve_listens_on_this_host_only_by_default(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    env = service_environment(database_url, redis_url, port, tmp_path)
    del env["SCHEDULER_GRPC__HOST"]
    env["SCHEDULER_METRICS__PORT"] = str(metrics_port)
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
            await wait_until_listening(metrics_port, serve, log)
        listening = _listening_addresses(serve)
        health = await cli("health", "--target", f"127.0.0.1:{port}")
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await serve.wait() == 0, log.read_text()

    assert listening == {"127.0.0.1"}  # the API and the metrics, on no other interface
    assert health.stdout == b"SERVING\n"
    assert f"serving gRPC on 127.0.0.1:{port}" in log.read_text()
    assert "no token" not in log.read_text()


@pytest.mark.parametrize("tokens", [[], ["a-token-of-16-chars-or-more"]], ids=["no token", "a token"])
async def test_serve_on_every_interface_without_a_token_warns_once(
    database_url: str, redis_url: str, tmp_path: Path, tokens: list[str]
) -> None:
    port = free_port()
    env = service_environment(database_url, redis_url, port, tmp_path) | {
        "SCHEDULER_GRPC__HOST": "0.0.0.0",
        "SCHEDULER_GRPC__TOKENS": json.dumps(tokens),
    }
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        assert (await cli("health", "--target", f"127.0.0.1:{port}")).stdout == b"SERVING\n"
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await serve.wait() == 0, log.read_text()

    warnings = [line for line in log.read_text().splitlines() if "SCHEDULER_GRPC__TOKENS" in line]
    if tokens:
        assert warnings == []
    else:
        [warning] = warnings
        assert f"the API listens on 0.0.0.0:{port} with no token and no mutual TLS" in warning
        assert "SCHEDULER_GRPC__TLS_CLIENT_CA" in warning and "SCHEDULER_GRPC__HOST=127.0.0.1" in warning


async def test_client_commands_find_the_service_where_its_settings_put_it(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    token = "a-token-of-16-chars-or-more"
    env = service_environment(database_url, redis_url, port, tmp_path) | {
        "SCHEDULER_GRPC__HOST": "0.0.0.0",
        "SCHEDULER_GRPC__TOKENS": json.dumps([token]),
    }
    settings_file = tmp_path / "scheduler.toml"
    settings_file.write_text(f'[grpc]\nport = {port}\ntokens = ["{token}"]\n')
    log = tmp_path / "serve.log"
    async with scheduler_process(env, log, "serve") as serve:
        with trio.fail_after(60):
            await wait_until_listening(port, serve, log)
        # The settings `serve` reads: the environment, or a settings file (0.0.0.0: this host).
        from_environment = await cli(
            "categories", "--user", "1", SCHEDULER_GRPC__HOST="0.0.0.0", SCHEDULER_GRPC__PORT=str(port),
            SCHEDULER_GRPC__TOKENS=json.dumps([token]),
        )  # fmt: skip
        from_file = await cli("--config", str(settings_file), "categories", "--user", "1")
        # SCHEDULER_TARGET, and --target over it; a target given by hand gets no token of the settings.
        by_target = await cli(
            "categories", "--user", "1", SCHEDULER_TARGET=f"127.0.0.1:{port}", SCHEDULER_TOKEN=token
        )
        by_hand = await cli(
            "categories", "--user", "1", "--target", f"127.0.0.1:{port}",
            SCHEDULER_TARGET="127.0.0.1:1", SCHEDULER_GRPC__TOKENS=json.dumps([token]),
        )  # fmt: skip
        serve.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            assert await serve.wait() == 0, log.read_text()

    for result in (from_environment, from_file, by_target):
        assert (result.returncode, result.stderr) == (0, b""), result.stderr
    assert by_hand.returncode == 1
    assert by_hand.stderr.decode().startswith("scheduler: UNAUTHENTICATED")
