"""Who may call the API: bearer tokens, TLS (and mutual TLS), request size, stream caps."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_asyncio
import trustme
from grpclib import GRPCError, Status
from grpclib.client import Channel
from grpclib.exceptions import StreamTerminatedError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from scheduler.api.security import token_valid
from scheduler.logs import quiet_protocol_loggers
from scheduler.serve.service import Running, run
from scheduler.settings import Settings, SettingsError, load
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub
from tests.conftest import Database, service_settings
from tests.support import clean_environment, scheduler_command

TOKEN = "s3cret-token-0123456789"
API_ONLY = {"sync": {"workers": 0}, "schedule": {"pollers": 0}, "downloader": {"workers": 0}}


def api_settings(database_url: str, redis_url: str, tmp_path: Path, **grpc: Any) -> Settings:
    return service_settings(database_url, redis_url, tmp_path / "data", **API_ONLY, grpc=grpc)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    async with trio.open_nursery() as nursery:
        yield await nursery.start(run, settings)
        nursery.cancel_scope.cancel()


async def call(channel: Channel, method: str, request: Any, token: str | None = None) -> Any:
    metadata = {"authorization": f"Bearer {token}"} if token else None
    return await trio_asyncio.aio_as_trio(getattr(SchedulerStub(channel), method))(
        request, metadata=metadata, timeout=10
    )


async def test_with_tokens_every_rpc_but_health_needs_one(
    database_url: str, redis_url: str, tmp_path: Path, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_protocol_loggers()  # as `serve` does: HTTP/2 libraries log headers at DEBUG
    caplog.set_level(logging.DEBUG)
    settings = api_settings(database_url, redis_url, tmp_path, tokens=[TOKEN])
    request = pb.ScheduleCategoryRequest(url="http://127.0.0.1/feed.xml", user_id=1)

    async with running(settings) as service:
        channel = Channel("127.0.0.1", service.port)
        errors = []
        for token in (None, "wrong-token-0123456789", TOKEN + "x", f"{TOKEN} "):
            with pytest.raises(GRPCError) as caught:
                await call(channel, "ScheduleCategory", request, token)
            errors.append(caught.value)
        assert await db.value("SELECT count(*) FROM categories") == 0
        scheduled = await call(channel, "ScheduleCategory", request, TOKEN)
        health = await trio_asyncio.aio_as_trio(HealthStub(channel).Check)(HealthCheckRequest())
        channel.close()

    assert {e.status for e in errors} == {Status.UNAUTHENTICATED}
    assert errors[0].message == "authorization: a valid bearer token is required"
    assert scheduled.created
    assert health.status == HealthCheckResponse.SERVING
    assert TOKEN not in caplog.text


def test_tokens_are_compared_whole() -> None:
    assert token_valid(f"Bearer {TOKEN}", ("another-token-0123456", TOKEN))
    assert token_valid(f"bearer {TOKEN}", (TOKEN,))
    assert not token_valid(TOKEN, (TOKEN,))  # no scheme
    assert not token_valid(f"Basic {TOKEN}", (TOKEN,))
    assert not token_valid(f"Bearer {TOKEN[:-1]}", (TOKEN,))
    assert not token_valid(None, (TOKEN,))


def test_a_short_token_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SCHEDULER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCHEDULER_GRPC__TOKENS", '["tooshort"]')

    with pytest.raises(SettingsError) as caught:
        load()

    assert str(caught.value) == "SCHEDULER_GRPC__TOKENS: every token must be 16+ printable characters"
    assert "tooshort" not in str(caught.value)


async def test_the_cli_sends_its_token(database_url: str, redis_url: str, tmp_path: Path) -> None:
    settings = api_settings(database_url, redis_url, tmp_path, tokens=[TOKEN])

    async with running(settings) as service:
        target = f"127.0.0.1:{service.port}"
        command = scheduler_command("schedule", "http://127.0.0.1/a.xml", "--user", "1", "--target", target)
        refused = await trio.run_process(command, capture_stderr=True, check=False, env=clean_environment())
        by_flag = await trio.run_process(
            [*command, "--token", TOKEN], capture_stdout=True, check=False, env=clean_environment()
        )
        by_env = await trio.run_process(
            command, capture_stdout=True, check=False, env=clean_environment(SCHEDULER_TOKEN=TOKEN)
        )

    assert refused.returncode == 1
    assert refused.stderr.decode().strip() == (
        "scheduler: UNAUTHENTICATED: authorization: a valid bearer token is required"
    )
    assert (by_flag.returncode, by_env.returncode) == (0, 0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pem(path: Path, *blobs: trustme.Blob) -> Path:
    path.write_bytes(b"".join(blob.bytes() for blob in blobs))
    return path


def client_context(
    ca: trustme.CA, tmp_path: Path, identity: trustme.LeafCert | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=write_pem(tmp_path / "ca.pem", ca.cert_pem))
    context.set_alpn_protocols(["h2"])
    if identity is not None:
        identity.configure_cert(context)
    return context


def tls_settings(database_url: str, redis_url: str, tmp_path: Path, ca: trustme.CA, mutual: bool) -> Settings:
    server = ca.issue_cert("127.0.0.1")
    grpc: dict[str, Any] = {
        "tls_cert": str(write_pem(tmp_path / "server.pem", *server.cert_chain_pems)),
        "tls_key": str(write_pem(tmp_path / "server.key", server.private_key_pem)),
    }
    if mutual:
        grpc["tls_client_ca"] = str(write_pem(tmp_path / "client-ca.pem", ca.cert_pem))
    return api_settings(database_url, redis_url, tmp_path, **grpc)


async def test_the_server_speaks_tls(
    database_url: str, redis_url: str, tmp_path: Path, ca: trustme.CA
) -> None:
    settings = tls_settings(database_url, redis_url, tmp_path, ca, mutual=False)
    request = pb.ListCategoriesRequest(user_id=1)

    async with running(settings) as service:
        secure = Channel("127.0.0.1", service.port, ssl=client_context(ca, tmp_path))
        listed = await call(secure, "ListCategories", request)
        secure.close()
        plain = Channel("127.0.0.1", service.port)
        with pytest.raises((GRPCError, OSError, StreamTerminatedError)):
            with trio.fail_after(10):
                await call(plain, "ListCategories", request)
        plain.close()

    assert list(listed.categories) == []


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    database_url: str, redis_url: str, tmp_path: Path, ca: trustme.CA
) -> None:
    settings = tls_settings(database_url, redis_url, tmp_path, ca, mutual=True)
    request = pb.ListCategoriesRequest(user_id=1)

    async with running(settings) as service:
        anonymous = Channel("127.0.0.1", service.port, ssl=client_context(ca, tmp_path))
        with pytest.raises((GRPCError, OSError, StreamTerminatedError)):
            with trio.fail_after(10):
                await call(anonymous, "ListCategories", request)
        anonymous.close()
        known = Channel("127.0.0.1", service.port, ssl=client_context(ca, tmp_path, ca.issue_cert("client")))
        listed = await call(known, "ListCategories", request)
        known.close()

    assert list(listed.categories) == []


async def test_a_message_over_the_limit_is_refused_unread(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    settings = api_settings(database_url, redis_url, tmp_path, max_message_bytes=4096)
    big = pb.ScheduleCategoryRequest(url="https://www.nicovideo.jp/tag/" + "x" * 10_000, user_id=1)

    async with running(settings) as service:
        channel = Channel("127.0.0.1", service.port)
        with pytest.raises(GRPCError) as caught:
            await call(channel, "ScheduleCategory", big)
        small = await call(
            channel, "ScheduleCategory", pb.ScheduleCategoryRequest(url=big.url[:100], user_id=1)
        )
        channel.close()

    assert caught.value.status is Status.RESOURCE_EXHAUSTED
    assert caught.value.message == f"request: message of {big.ByteSize()} bytes exceeds the 4096-byte limit"
    assert small.created
    assert await db.value("SELECT count(*) FROM categories") == 1


async def test_watch_streams_are_capped(database_url: str, redis_url: str, tmp_path: Path) -> None:
    settings = api_settings(database_url, redis_url, tmp_path, max_watchers=1)
    first_open = trio.Event()

    async with running(settings) as service:
        channel = Channel("127.0.0.1", service.port)
        stub = SchedulerStub(channel)

        async def hold_one_open() -> None:
            async with stub.WatchDownloads.open() as stream:
                await stream.send_message(pb.WatchDownloadsRequest(), end=True)
                await stream.recv_initial_metadata()
                first_open.set()
                await asyncio_sleep_forever()

        async def second() -> Any:
            async with stub.WatchDownloads.open() as stream:
                await stream.send_message(pb.WatchDownloadsRequest(), end=True)
                return await stream.recv_message()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio_asyncio.aio_as_trio(hold_one_open))
            await first_open.wait()  # its initial metadata: the server has registered it
            with pytest.raises(GRPCError) as caught:
                await trio_asyncio.aio_as_trio(second)()
            nursery.cancel_scope.cancel()
        channel.close()

    assert caught.value.status is Status.RESOURCE_EXHAUSTED


async def asyncio_sleep_forever() -> None:
    import asyncio

    await asyncio.Event().wait()


SECRETS = {
    "SCHEDULER_DATABASE__URL": "postgresql://scheduler:db-pass-TOPSECRET@127.0.0.1:1/archive",
    "SCHEDULER_REDIS__URLS": '["redis://:redis-pass-TOPSECRET@127.0.0.1:1/0"]',
    "SCHEDULER_DOWNLOADER__PROXY": "http://user:proxy-pass-TOPSECRET@127.0.0.1:1",
    "SCHEDULER_GRPC__TOKENS": '["token-TOPSECRET-0123456789"]',
}


async def test_secrets_never_reach_the_output_of_a_failing_start(tmp_path: Path) -> None:
    """Nothing answers on port 1: `serve` fails to start and says why, without a secret."""
    result = await trio.run_process(
        scheduler_command("serve"),
        env=clean_environment(SCHEDULER_DATA_DIR=str(tmp_path), **SECRETS),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )

    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 1
    assert "cannot start" in output
    assert "TOPSECRET" not in output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCHEDULER_DATABASE__URL", "mysql://scheduler:db-pass-TOPSECRET@db/archive"),
        ("SCHEDULER_REDIS__URLS", '["http://:redis-pass-TOPSECRET@cache:6379"]'),
        ("SCHEDULER_DOWNLOADER__PROXY", "gopher://user:proxy-pass-TOPSECRET@proxy:70"),
    ],
    ids=["database", "redis", "proxy"],
)
async def test_a_bad_setting_is_named_without_its_password(variable: str, value: str) -> None:
    result = await trio.run_process(
        scheduler_command("serve"),
        env=clean_environment(**{variable: value}),
        capture_stderr=True,
        check=False,
    )

    [line] = result.stderr.decode().splitlines()
    assert result.returncode == 2
    assert line.startswith(f"scheduler: {variable}: ")
    assert "TOPSECRET" not in line and ":***@" in line
